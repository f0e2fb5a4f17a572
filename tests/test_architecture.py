"""The architecture's rules, checked on the source (docs/ARCHITECTURE.md says why each holds).

- No import circle between our modules, counting imports under `TYPE_CHECKING`: a guard hides
  a circle from the interpreter, not from the reader.
- Layers: `ai_router` is a library (nothing of ours); `models` sees only `models`; `server` never
  imports `realtime` (the gateway sits above the features) or `scripts`.
- No module of `server/`, `realtime/` or `ai_router/` above 500 lines of code.
- One owner per collection: only the owning feature queries a Document class (class-level
  queries, construction of a new document) and only the owner names a Redis keyspace.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from models import DOCUMENT_MODELS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "models", "realtime", "ai_router", "scripts")
MAX_CODE_LINES = 500

# Which feature owns each collection: the only package whose modules query it.
OWNERS: dict[str, str] = {
    "User": "server.users",
    "Organization": "server.orgs",
    "RefreshToken": "server.auth",
    "PasswordResetToken": "server.auth",
    "UserIdentity": "server.auth",
    "Conversation": "server.conversations",
    "Message": "server.conversations",
    "AuditLog": "server.audit",
    "LearnerTopic": "server.memory",
    "AiUsageDay": "server.usage",
    "StudyGroup": "server.groups",
    "XpEvent": "server.progress",
    "Progress": "server.progress",
    "Achievement": "server.progress",
    "UserAchievement": "server.progress",
    "Question": "server.quiz",
    "QuizAttempt": "server.quiz",
    "TopicMastery": "server.quiz",
    "Topic": "server.quiz",
    "LibraryDocument": "server.library",
    "DocumentChunk": "server.library",
    "MockTest": "server.practice",
    "Assignment": "server.practice",
}

# Redis keyspaces (the literal prefix of their keys) and their owners.
KEYSPACES: dict[str, str] = {
    "starguide:socketio": "realtime",
    "starguide:sockets:": "realtime",
    "starguide:presence:": "realtime",
    "starguide:replay:": "realtime",
    "starguide:session:": "server.auth",
    "starguide:login:": "server.auth",
    "starguide:oidc:": "server.auth",
    "starguide:control": "server.cluster",
    "starguide:lb": "server.leaderboard",
    # saq's fixed namespace (queue `starguide`): `saq:starguide:*` and `saq:job:starguide:*`.
    "saq:": "server.jobs",
}

# Class-level calls that read or write a collection.
QUERY_METHODS = {
    "find",
    "find_one",
    "find_all",
    "find_many",
    "get",
    "aggregate",
    "count",
    "distinct",
    "insert_one",
    "insert_many",
    "delete_all",
    "update_all",
    "get_pymongo_collection",
    "get_motor_collection",
}

# The composition root builds the app from every layer, the gateway included.
COMPOSITION_ROOTS = {"server.app", "server.__main__"}

# Where a layer may not import from.
FORBIDDEN_IMPORTS: dict[str, tuple[str, ...]] = {
    "ai_router": ("server", "models", "realtime", "scripts"),
    "models": ("server", "realtime", "scripts", "ai_router"),
    "server": ("realtime", "scripts"),
    "realtime": ("scripts",),
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """Our modules that an import statement names (the module itself for `from x import y`,
    or `x.y` when y is a submodule)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
    for target in targets:
        if target.split(".")[0] not in PACKAGES:
            continue
        while target not in MODULES and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in MODULES and target != module:
            yield target


def _import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[name].update(_imported(name, node))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(MODULES):
        if node not in index:
            visit(node)
    return found


def _in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _code_lines(path: Path) -> int:
    lines = path.read_text().splitlines()
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_no_import_circle() -> None:
    assert _cycles(_import_graph()) == []


def test_layers_import_only_downwards() -> None:
    upward = []
    for module, targets in _import_graph().items():
        layer = module.split(".")[0]
        if module in COMPOSITION_ROOTS:
            continue
        for target in targets:
            if target.split(".")[0] in FORBIDDEN_IMPORTS.get(layer, ()):
                upward.append(f"{module} -> {target}")
    assert sorted(upward) == []


def test_no_module_above_the_size_limit() -> None:
    too_big = {
        name: _code_lines(path)
        for name, path in MODULES.items()
        if name.split(".")[0] in ("server", "realtime", "ai_router")
        and _code_lines(path) > MAX_CODE_LINES
    }
    assert too_big == {}


def test_every_collection_has_an_owner() -> None:
    assert sorted(OWNERS) == sorted(model.__name__ for model in DOCUMENT_MODELS)


def _documents_imported(tree: ast.AST) -> dict[str, str]:
    """Local name -> Document class, for the classes a module imports from `models`."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "models":
            for alias in node.names:
                if alias.name in OWNERS:
                    names[alias.asname or alias.name] = alias.name
    return names


def _document_uses(tree: ast.AST) -> Iterator[tuple[str, int, str]]:
    """(document class, line, how) for each class-level query or construction of a Document
    class the module imports (a local class of the same name is not one)."""
    names = _documents_imported(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in names:
            yield names[func.id], node.lineno, "constructs"
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in names
            and func.attr in QUERY_METHODS
        ):
            yield names[func.value.id], node.lineno, func.attr


def test_only_the_owner_queries_a_collection() -> None:
    strays = []
    for module, tree in TREES.items():
        if module.split(".")[0] in ("models", "ai_router"):
            continue
        for document, line, how in _document_uses(tree):
            if not _in_package(module, OWNERS[document]):
                strays.append(f"{module}:{line} {how} {document} (owner {OWNERS[document]})")
    assert strays == []


def test_only_the_owner_names_a_redis_keyspace() -> None:
    strays = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            for prefix, owner in KEYSPACES.items():
                if node.value.startswith(prefix) and not _in_package(module, owner):
                    strays.append(f"{module}:{node.lineno} names {prefix!r} (owner {owner})")
    assert strays == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checker itself must be able to fail: a two-module circle is found, a chain is not.
    monkeypatch.setattr(
        "tests.test_architecture.MODULES", {name: Path(name) for name in ("a", "b")}
    )
    assert _cycles(graph) == expected
