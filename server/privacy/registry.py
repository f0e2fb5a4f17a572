"""Where features declare their part of a user's export and erasure (docs/PRIVACY.md).

Each feature that keeps data about a person has a `privacy.py` with a
`register_privacy_steps(registry)` that registers its export sections and erasure steps and
names the collections they cover; the app factory calls every such function from one list
(`server.app.PRIVACY_STEPS`). The privacy service then only runs the steps in order and
audits. A new collection whose feature forgets to register fails
`tests/privacy/test_registry.py`, which checks every collection of `DOCUMENT_MODELS` against
`uncovered`.

Order of erasure: by phase (`ERASE_PHASES`), then within a phase by registration order, moved
only as far as `after`/`before` demand. Steps registered with `again=True` run a second time,
in the same order, once the account is gone (the pass for late writers).

Steps share what they learnt through typed `Fact`s: one step `put`s a value, or a feature
`provide`s a function that computes it on first `get` (once per export or erasure). A fact
nobody provides is an error, never an empty value: a forgotten provider must not make an
erasure quietly erase less, or more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

from beanie import Document, PydanticObjectId

from models import User
from server.privacy.schemas import ErasureReport

if TYPE_CHECKING:
    from server.state import AppState

T = TypeVar("T")

# Erasure phases, in the order they run, and what each is for (docs/PRIVACY.md, "Order").
ERASE_PHASES: Final[dict[str, str]] = {
    "disable": "the account refuses everything at once: REST, sockets, refresh",
    "stop": "work in flight for the user stops: streaming replies, pending progress updates",
    "collect": "what later steps need is read while the documents naming it still exist",
    "content": "the user's messages, then their private conversations",
    "hand_over": "what the user created and shares passes on; group memberships end",
    "memberships": "the user leaves every shared conversation",
    "per_user": "collections keyed by the user alone are deleted",
    "pseudonymise": "kept rows are re-keyed so that nothing links them to the person",
    "redis": "Redis entries and rate-limit counters",
    "account": "the user document, last: until it goes, the erasure can be rerun",
    "late": "before the second pass: writers still running for the user land",
}


class Fact(Generic[T]):
    """A typed name for something one step learns and others use (the conversations that
    are the user's alone, the leaderboards they are on). Defined by the feature that owns
    its meaning; another feature may `provide` it (an interface turned upside down)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Fact({self.name!r})"


Provider = Callable[["PrivacyContext"], Awaitable[Any]]


class Facts:
    """The facts of one export or erasure."""

    def __init__(self, context: PrivacyContext, providers: dict[str, Provider]) -> None:
        self._context = context
        self._providers = providers
        self._values: dict[str, Any] = {}

    def put(self, key: Fact[T], value: T) -> None:
        self._values[key.name] = value

    async def get(self, key: Fact[T]) -> T:
        if key.name not in self._values:
            provider = self._providers.get(key.name)
            if provider is None:
                raise LookupError(f"no privacy step puts or provides {key.name}")
            self._values[key.name] = await provider(self._context)
        return cast(T, self._values[key.name])


@dataclass
class PrivacyContext:
    """What every step and provider gets: the user (as loaded before the first step) and
    the facts gathered so far."""

    user: User
    user_id: PydanticObjectId
    facts: Facts = field(init=False)


@dataclass
class ExportContext(PrivacyContext):
    # Counts for the `privacy.export` audit entry, never content.
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ErasureContext(PrivacyContext):
    state: AppState
    report: ErasureReport
    # True in the second pass, for late writers.
    again: bool = False


ExportFn = Callable[[ExportContext], Awaitable[Any]]
EraseFn = Callable[[ErasureContext], Awaitable[None]]


@dataclass(frozen=True)
class ExportStep:
    name: str  # the key of its section in the export document
    fn: ExportFn
    collections: tuple[type[Document], ...]
    after: tuple[str, ...]
    before: tuple[str, ...]


@dataclass(frozen=True)
class EraseStep:
    name: str
    fn: EraseFn
    phase: str
    collections: tuple[type[Document], ...]
    after: tuple[str, ...]
    before: tuple[str, ...]
    again: bool


class RegistryError(Exception):
    """A registration that cannot run: unknown phase or step, a duplicate name, a cycle."""


class PrivacyRegistry:
    """The steps of every feature; built once by the app factory, then read only."""

    def __init__(self) -> None:
        self._exports: list[ExportStep] = []
        self._erasures: list[EraseStep] = []
        self._providers: dict[str, Provider] = {}
        self._impersonal: dict[type[Document], str] = {}
        self._kept: dict[type[Document], str] = {}

    # ---- registering ------------------------------------------------------------------------
    def register_export(
        self,
        name: str,
        fn: ExportFn,
        *,
        collections: Sequence[type[Document]],
        after: Sequence[str] = (),
        before: Sequence[str] = (),
    ) -> None:
        """`fn` returns the section `name` of the export document (JSON values only)."""
        if any(s.name == name for s in self._exports):
            raise RegistryError(f"export section {name!r} registered twice")
        self._exports.append(ExportStep(name, fn, tuple(collections), tuple(after), tuple(before)))

    def register_erase(
        self,
        name: str,
        fn: EraseFn,
        *,
        phase: str,
        collections: Sequence[type[Document]] = (),
        after: Sequence[str] = (),
        before: Sequence[str] = (),
        again: bool = False,
    ) -> None:
        """`again`: run once more after the account is gone (late writers can recreate what
        this step removes)."""
        if phase not in ERASE_PHASES:
            raise RegistryError(f"erasure step {name!r}: unknown phase {phase!r}")
        if any(s.name == name for s in self._erasures):
            raise RegistryError(f"erasure step {name!r} registered twice")
        self._erasures.append(
            EraseStep(name, fn, phase, tuple(collections), tuple(after), tuple(before), again)
        )

    def provide(self, key: Fact[Any], fn: Provider) -> None:
        """`fn` computes `key` when a step first asks for it."""
        if key.name in self._providers:
            raise RegistryError(f"{key.name} provided twice")
        self._providers[key.name] = fn

    def holds_no_personal_data(self, model: type[Document], *, why: str) -> None:
        """A collection with nothing about a person (a catalog, a syllabus): neither exported
        nor erased. Said out loud, so that forgetting a collection is still caught."""
        self._impersonal[model] = why

    def kept_on_erasure(self, model: type[Document], *, why: str) -> None:
        """A collection exported but deliberately kept on erasure (the audit log)."""
        self._kept[model] = why

    # ---- reading ----------------------------------------------------------------------------
    def export_steps(self) -> list[ExportStep]:
        names = {s.name for s in self._exports}
        for step in self._exports:
            for other in (*step.after, *step.before):
                if other not in names:
                    raise RegistryError(f"export section {step.name!r}: no section {other!r}")
        return _ordered(self._exports)

    def erase_steps(self) -> list[EraseStep]:
        ordered: list[EraseStep] = []
        for phase in ERASE_PHASES:
            ordered += _ordered([s for s in self._erasures if s.phase == phase])
        rank = {s.name: list(ERASE_PHASES).index(s.phase) for s in self._erasures}
        for step in self._erasures:
            for other, must_precede in [(a, True) for a in step.after] + [
                (b, False) for b in step.before
            ]:
                if other not in rank:
                    raise RegistryError(f"erasure step {step.name!r}: no step {other!r}")
                mine, theirs = rank[step.name], rank[other]
                if (theirs > mine) if must_precede else (theirs < mine):
                    raise RegistryError(
                        f"erasure step {step.name!r}: {other!r} is in the wrong phase"
                    )
        return ordered

    def providers(self) -> dict[str, Provider]:
        return dict(self._providers)

    def impersonal(self) -> dict[type[Document], str]:
        """Collections declared to hold nothing about a person, with why."""
        return dict(self._impersonal)

    def kept(self) -> dict[type[Document], str]:
        """Collections exported but kept on erasure, with why."""
        return dict(self._kept)

    def validate(self) -> None:
        """Raises `RegistryError` if the steps cannot be ordered."""
        self.export_steps()
        self.erase_steps()

    def uncovered(self, models: Iterable[type[Document]]) -> dict[str, list[str]]:
        """Collections with no export section or no erasure step that are not declared
        impersonal (or, for erasure, kept): what a feature forgot to register."""
        exported = {m for s in self._exports for m in s.collections}
        erased = {m for s in self._erasures for m in s.collections}
        missing: dict[str, list[str]] = {"export": [], "erase": []}
        for model in models:
            if model in self._impersonal:
                continue
            if model not in exported:
                missing["export"].append(model.__name__)
            if model not in erased and model not in self._kept:
                missing["erase"].append(model.__name__)
        return missing


S = TypeVar("S", ExportStep, EraseStep)


def _ordered(steps: list[S]) -> list[S]:
    """Registration order, moved only as `after`/`before` demand (stable topological sort:
    the earliest-registered step whose predecessors have run goes next)."""
    names = {s.name for s in steps}
    needs: dict[str, set[str]] = {s.name: {a for a in s.after if a in names} for s in steps}
    for step in steps:
        for later in step.before:
            if later in needs:
                needs[later].add(step.name)
    done: list[S] = []
    left = list(steps)
    while left:
        ready = next((s for s in left if needs[s.name] <= {d.name for d in done}), None)
        if ready is None:
            raise RegistryError(f"privacy steps order in a circle: {[s.name for s in left]}")
        done.append(ready)
        left.remove(ready)
    return done


# ---- helpers the features' steps share --------------------------------------------------------
BATCH: Final = 500  # ids per `$in` query


def chunks(items: Sequence[T], size: int = BATCH) -> list[list[T]]:
    """`items` in slices small enough for one `$in` query."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def dump(doc: Document, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A stored document as JSON values (ids as strings, ISO times), without Beanie's own."""
    return doc.model_dump(mode="json", exclude={"revision_id", *exclude})


def collection_name(model: type[Document]) -> str:
    return str(model.get_collection_name())
