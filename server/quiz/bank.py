"""The question bank: a data file (`data/questions.json`), validated, then synced by `key`.

`parse_bank` checks everything a bad edit could break (unknown or mismatched topics, exams the
subject is not part of, duplicate or empty options, an answer out of range, duplicate keys)
and reports every problem at once. `sync_bank` writes the questions idempotently: new keys
are inserted, changed ones updated, identical ones left alone, so running it twice changes
nothing the second time. Start-up (`seed_if_empty`) and `scripts/seed.py` share it.

The syllabus topics the bank is written against are mirrored the same way into `topics`
(`sync_topics`, `seed_topics_if_empty`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from models import Question, Topic
from models.common import utcnow
from models.question import Difficulty
from server.memory.taxonomy import Taxonomy, load_taxonomy
from server.quiz.visibility import fingerprint, visible_filter
from server.seeding import SyncResult

log = logging.getLogger("starguide.quiz")

OPTION_COUNT: Final = 4
# The fields a bank entry owns; `active` is left to admins, so a re-sync never revives a
# question someone retired.
CONTENT_FIELDS: Final = (
    "exams",
    "subject",
    "topic_id",
    "difficulty",
    "stem",
    "options",
    "answer",
    "explanation",
    "fingerprint",
)
_DUPLICATE_KEY: Final = 11000

Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class BankError(ValueError):
    """The bank file is invalid; the message lists every problem found."""


class QuestionSpec(BaseModel):
    """One entry of the bank file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[
        str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    ]
    exams: Annotated[list[Text], Field(min_length=1)]
    subject: Text
    topic: Text
    difficulty: Difficulty
    stem: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
    options: Annotated[list[Text], Field(min_length=OPTION_COUNT, max_length=OPTION_COUNT)]
    answer: Annotated[int, Field(strict=True, ge=0, lt=OPTION_COUNT)]
    explanation: Text

    def content(self) -> dict[str, Any]:
        """The stored fields (`CONTENT_FIELDS`), exams upper-cased as the taxonomy has them."""
        return {
            "exams": sorted({e.upper() for e in self.exams}),
            "subject": self.subject,
            "topic_id": self.topic,
            "difficulty": self.difficulty,
            "stem": self.stem,
            "options": list(self.options),
            "answer": self.answer,
            "explanation": self.explanation,
            # Organizations' questions are checked against it for duplicates.
            "fingerprint": fingerprint(self.stem, self.options),
        }


class BankFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    questions: list[dict[str, Any]]


def _problems(spec: QuestionSpec, taxonomy: Taxonomy) -> list[str]:
    problems = []
    topic = taxonomy.get(spec.topic)
    subject = taxonomy.subjects.get(spec.subject)
    if subject is None:
        problems.append(f"unknown subject {spec.subject!r}")
    if topic is None:
        problems.append(f"unknown topic {spec.topic!r}")
    elif topic.subject != spec.subject:
        problems.append(f"topic {spec.topic!r} belongs to {topic.subject!r}, not {spec.subject!r}")
    if subject is not None:
        foreign = sorted({e.upper() for e in spec.exams} - set(subject.exams))
        if foreign:
            problems.append(
                f"exams {foreign} are not exams of {spec.subject!r} ({list(subject.exams)})"
            )
    normalized = {" ".join(o.lower().split()) for o in spec.options}
    if len(normalized) != len(spec.options):
        problems.append("options must be distinct")
    return problems


def parse_bank(data: Any, *, taxonomy: Taxonomy | None = None) -> list[QuestionSpec]:
    """The questions of a bank file's JSON, validated against the taxonomy.

    Raises `BankError` naming every invalid entry (by position and key), not just the first.
    """
    taxonomy = taxonomy or load_taxonomy()
    try:
        bank = BankFile.model_validate(data)
    except ValidationError as exc:
        raise BankError(f"invalid question bank: {exc}") from exc
    specs: list[QuestionSpec] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(bank.questions):
        label = f"questions[{position}]"
        if isinstance(raw.get("key"), str):
            label += f" ({raw['key']})"
        try:
            spec = QuestionSpec.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                problems.append(f"{label}: {where}: {error['msg']}")
            continue
        problems.extend(f"{label}: {p}" for p in _problems(spec, taxonomy))
        if spec.key in seen:
            problems.append(f"{label}: duplicate key (also questions[{seen[spec.key]}])")
        seen.setdefault(spec.key, position)
        specs.append(spec)
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise BankError(f"invalid question bank, {len(problems)} problem(s):\n  {shown}{more}")
    return specs


def packaged_bank_path() -> Path:
    """Where the bank shipped with the package lives (installed as package data)."""
    return Path(str(files("server.quiz") / "data" / "questions.json"))


def load_bank(path: Path | None = None, *, taxonomy: Taxonomy | None = None) -> list[QuestionSpec]:
    """Reads and validates a bank file (the packaged one by default)."""
    path = path or packaged_bank_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BankError(f"{path}: not valid JSON: {exc}") from exc
    return parse_bank(data, taxonomy=taxonomy)


def _differs(stored: Mapping[str, Any], content: Mapping[str, Any]) -> bool:
    return any(stored.get(field) != content[field] for field in CONTENT_FIELDS)


async def sync_bank(questions: Sequence[QuestionSpec]) -> SyncResult:
    """Upserts the questions by `key`: idempotent, and safe when two processes run it at once.

    One read finds what is stored; missing keys are inserted in one unordered `insert_many`
    (cheap even on the embedded database), changed ones get one `$set` each, and identical
    ones are not written at all. A key another process inserted meanwhile (a duplicate key) is
    compared again and updated if its content differs.
    """
    wanted: dict[str, dict[str, Any]] = {}
    for spec in questions:
        if spec.key in wanted:
            raise BankError(f"duplicate question key {spec.key!r}")
        wanted[spec.key] = spec.content()
    if not wanted:
        return SyncResult(0, 0, 0)
    collection = Question.get_pymongo_collection()
    projection = {"_id": 0, "key": 1, **dict.fromkeys(CONTENT_FIELDS, 1)}

    async def stored(keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = collection.find({"key": {"$in": list(keys)}}, projection=projection)
        return {raw["key"]: raw async for raw in cursor}

    existing = await stored(list(wanted))
    missing = [key for key in wanted if key not in existing]
    compare = [key for key in wanted if key in existing]
    created = 0
    if missing:
        now = utcnow()
        documents = [
            {
                "key": key,
                **wanted[key],
                "active": True,
                "org_id": None,  # the shared global bank
                "status": "published",
                "created_at": now,
                "updated_at": now,
            }
            for key in missing
        ]
        try:
            created = len((await collection.insert_many(documents, ordered=False)).inserted_ids)
        except BulkWriteError as exc:  # another process inserted some of them first
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            created = int(exc.details.get("nInserted", 0))
            raced = [missing[e["index"]] for e in errors]
            existing.update(await stored(raced))
            compare += raced
    changed = [key for key in compare if _differs(existing[key], wanted[key])]
    updated = 0
    if changed:
        now = utcnow()
        result = await collection.bulk_write(
            [
                UpdateOne({"key": key}, {"$set": {**wanted[key], "updated_at": now}})
                for key in changed
            ],
            ordered=False,
        )
        updated = result.modified_count
    return SyncResult(created=created, updated=updated, unchanged=len(wanted) - created - updated)


async def seed_if_empty(path: Path | None = None) -> SyncResult | None:
    """At start-up: loads the packaged bank into an empty `questions` collection, so a fresh
    `make run` has questions. A collection with anything in it is left alone (one indexed
    read), so start-up stays cheap; `scripts/seed.py` updates an existing bank."""
    collection = Question.get_pymongo_collection()
    if await collection.find_one({}, projection={"_id": 1}) is not None:
        return None
    path = path or packaged_bank_path()
    if not path.is_file():
        log.warning("no question bank to load", extra={"path": str(path)})
        return None
    result = await sync_bank(load_bank(path))
    log.info(
        "question bank loaded",
        # Not "created": LogRecord has an attribute of that name, and logging refuses it.
        extra={"questions_created": result.created, "path": str(path)},
    )
    return result


TOPIC_FIELDS: Final = ("name", "subject", "unit", "exams", "synonyms")


def _topic_content(taxonomy: Taxonomy) -> dict[str, dict[str, Any]]:
    return {
        topic.id: {
            "name": topic.name,
            "subject": topic.subject,
            "unit": topic.unit,
            "exams": list(taxonomy.subjects[topic.subject].exams),
            "synonyms": list(topic.synonyms),
        }
        for topic in taxonomy.topics.values()
    }


async def sync_topics(taxonomy: Taxonomy | None = None) -> SyncResult:
    """Mirrors the taxonomy's topics into `topics` by `topic_id`, like `sync_bank`: missing
    ones inserted, changed ones updated, identical ones not written. Topics dropped from the
    taxonomy are left in place (old messages and mastery still name them)."""
    wanted = _topic_content(taxonomy or load_taxonomy())
    if not wanted:
        return SyncResult(0, 0, 0)
    collection = Topic.get_pymongo_collection()
    projection = {"_id": 0, "topic_id": 1, **dict.fromkeys(TOPIC_FIELDS, 1)}
    cursor = collection.find({"topic_id": {"$in": list(wanted)}}, projection=projection)
    existing = {raw["topic_id"]: raw async for raw in cursor}
    now = utcnow()
    missing = [
        {"topic_id": key, **wanted[key], "created_at": now, "updated_at": now}
        for key in wanted
        if key not in existing
    ]
    created = 0
    if missing:
        try:
            created = len((await collection.insert_many(missing, ordered=False)).inserted_ids)
        except BulkWriteError as exc:  # another process (a starting server) inserted some
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            created = int(exc.details.get("nInserted", 0))
    changed = [
        key
        for key, stored in existing.items()
        if any(stored.get(field) != wanted[key][field] for field in TOPIC_FIELDS)
    ]
    updated = 0
    if changed:
        result = await collection.bulk_write(
            [
                UpdateOne({"topic_id": key}, {"$set": {**wanted[key], "updated_at": now}})
                for key in changed
            ],
            ordered=False,
        )
        updated = result.modified_count
    return SyncResult(created=created, updated=updated, unchanged=len(wanted) - created - updated)


async def seed_topics_if_empty() -> SyncResult | None:
    """At start-up: fills an empty `topics` collection from the packaged taxonomy (one indexed
    read when it is stocked); `scripts/seed.py` keeps an existing one up to date."""
    if await Topic.get_pymongo_collection().find_one({}, projection={"_id": 1}) is not None:
        return None
    result = await sync_topics()
    log.info("syllabus topics loaded", extra={"topics_created": result.created})
    return result


async def first_active_question(*, topic_id: str) -> Question | None:
    """The topic's active question with the smallest key: a stable pick for scripted answers
    (`seed --demo`), the same one on every run."""
    return await Question.find_one(
        {"topic_id": topic_id, **visible_filter(None)}, sort=[("key", 1)]
    )
