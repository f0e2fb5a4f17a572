"""Importing an organization's questions in bulk: a JSON list or a CSV file (docs/PRACTICE.md).

Every row is checked on its own (the same rules as `POST /questions`) and reported by its
position; valid rows are stored, invalid ones listed with their errors. Each question is one
document written by one insert, so no row is ever half-written; a row that duplicates the bank,
the organization's questions or an earlier row of the same upload is invalid
(`duplicate_question`), and two imports racing on the same row store it once (unique index).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import PurePath
from typing import Any, Final

from fastapi import Request
from pydantic import ValidationError
from pymongo.errors import BulkWriteError
from starlette.datastructures import UploadFile

from models import Question, User
from server.audit import service as audit_service
from server.errors import AppError, ValidationFailed
from server.quiz import authoring
from server.quiz.authoring_schemas import (
    ImportReport,
    InvalidRow,
    QuestionCreate,
    RowError,
    row_errors,
)

MAX_ROWS: Final = 500
CSV_COLUMNS: Final = (
    "topic_id",
    "difficulty",
    "stem",
    "option_a",
    "option_b",
    "option_c",
    "option_d",
    "answer",
    "explanation",
    "source_exam",
    "source_year",
    "status",
)
_REQUIRED_COLUMNS: Final = frozenset(CSV_COLUMNS[:9])
_LETTERS: Final = "ABCD"
_DUPLICATE_KEY: Final = 11000


def _invalid_upload(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_upload")


def parse_upload(body: bytes, content_type: str) -> list[Any]:
    """The rows of an upload: `application/json` (a list of question objects, or
    `{"questions": [...]}`) or `text/csv` (a header row naming `CSV_COLUMNS`)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid_upload("The upload is not UTF-8 text.") from None
    if kind == "application/json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ValidationFailed(
                "The request body is not valid JSON.", code="invalid_json"
            ) from None
        if isinstance(data, dict) and set(data) == {"questions"}:
            data = data["questions"]
        if not isinstance(data, list):
            raise _invalid_upload("Send a JSON list of questions.")
        rows: list[Any] = data
    elif kind in ("text/csv", "application/csv"):
        rows = _csv_rows(text)
    else:
        raise AppError(
            "Send application/json or text/csv.", code="unsupported_media_type", status=415
        )
    if not rows:
        raise _invalid_upload("The upload has no questions.")
    if len(rows) > MAX_ROWS:
        raise _invalid_upload(f"At most {MAX_ROWS} questions per upload.")
    return rows


_MEDIA_BY_SUFFIX: Final = {".csv": "text/csv", ".json": "application/json"}


async def upload_of(request: Request) -> tuple[bytes, str]:
    """The upload's bytes and media type: the request body itself, or the file of a
    `multipart/form-data` form (a CSV or JSON file sent as browsers and `curl -F` send
    files): its part's media type, or its name's extension when the part names neither."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        return await request.body(), content_type
    async with request.form(max_files=1, max_fields=20) as form:
        upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise _invalid_upload("The form has no file: send the CSV or JSON file.")
        media = (upload.content_type or "").split(";", 1)[0].strip().lower()
        if media not in ("application/json", "text/csv", "application/csv"):
            suffix = PurePath(upload.filename or "").suffix.lower()
            media = _MEDIA_BY_SUFFIX.get(suffix, media)
        return await upload.read(), media


def _csv_rows(text: str) -> list[Any]:
    reader = csv.DictReader(io.StringIO(text))
    header = {h.strip().lower() for h in reader.fieldnames or ()}  # `Topic_ID` is topic_id
    missing = sorted(_REQUIRED_COLUMNS - header)
    if missing:
        raise _invalid_upload(f"The CSV header lacks: {', '.join(missing)}.")
    unknown = sorted(header - set(CSV_COLUMNS))
    if unknown:
        raise _invalid_upload(f"Unknown CSV columns: {', '.join(unknown)}.")
    # Extra cells stay under the key None, which `_from_csv` refuses.
    return [
        _from_csv({(k.strip().lower() if k is not None else None): v for k, v in raw.items()})
        for raw in reader
    ]


def _from_csv(raw: dict[str | None, Any]) -> dict[str, Any] | RowError:
    """One CSV record as `QuestionCreate`'s fields: four option columns, the answer as a
    letter A to D (never an ambiguous number), the source as two optional columns."""
    if None in raw:  # more cells than the header has columns
        return RowError(field="", message="The row has more cells than the header.", type="csv")
    answer = (raw.get("answer") or "").strip().upper()
    if answer not in _LETTERS or len(answer) != 1:
        return RowError(field="answer", message="The answer is a letter, A to D.", type="answer")
    row: dict[str, Any] = {
        "topic_id": raw.get("topic_id") or "",
        "stem": raw.get("stem") or "",
        "options": [raw.get(f"option_{c}") or "" for c in "abcd"],
        "answer": _LETTERS.index(answer),
        "explanation": raw.get("explanation") or "",
    }
    for field in ("difficulty", "status"):
        if (raw.get(field) or "").strip():
            row[field] = raw[field].strip().lower()
    exam, year = (raw.get("source_exam") or "").strip(), (raw.get("source_year") or "").strip()
    if exam or year:
        if not year.isdigit():
            return RowError(field="source_year", message="The year is a number.", type="int")
        row["source"] = {"exam": exam, "year": int(year)}
    return row


async def import_rows(*, user: User, rows: list[Any]) -> ImportReport:
    """Validates every row, then stores the valid ones in one unordered insert."""
    authoring.ensure_manager(user)
    invalid: dict[int, list[RowError]] = {}
    candidates: list[tuple[int, Question]] = []
    for position, raw in enumerate(rows, start=1):
        if isinstance(raw, RowError):
            invalid[position] = [raw]
            continue
        try:
            body = QuestionCreate.model_validate(raw)
        except ValidationError as exc:
            invalid[position] = row_errors(exc.errors())
            continue
        try:
            candidates.append((position, authoring.from_body(user, body)))
        except ValidationFailed as exc:
            invalid[position] = [RowError(**f) for f in exc.details.get("fields", [])]
    taken = await authoring.existing_fingerprints(
        user.org_id, [q.fingerprint for _, q in candidates if q.fingerprint]
    )
    duplicate = RowError(field="", message="A duplicate question.", type="duplicate_question")
    to_insert: list[tuple[int, Question]] = []
    for position, question in candidates:
        if question.fingerprint in taken:
            invalid[position] = [duplicate]
        else:
            taken.add(question.fingerprint or "")
            to_insert.append((position, question))
    stored = await _insert(to_insert, invalid, duplicate)
    for question in stored:
        await audit_service.record(
            action="question.import",
            actor_id=user.id,
            org_id=user.org_id,
            target_type="question",
            target_id=str(question.id),
        )
    return ImportReport(
        created=len(stored),
        ids=[str(q.id) for q in stored],
        invalid=[InvalidRow(row=r, errors=invalid[r]) for r in sorted(invalid)],
    )


async def _insert(
    rows: list[tuple[int, Question]], invalid: dict[int, list[RowError]], duplicate: RowError
) -> list[Question]:
    """One unordered insert; rows another writer stored meanwhile (a duplicate key) become
    invalid rows, the others are stored whole."""
    if not rows:
        return []
    collection = Question.get_pymongo_collection()
    documents = [q.model_dump(by_alias=True, exclude={"id"}) for _, q in rows]
    failed: set[int] = set()
    try:
        await collection.insert_many(documents, ordered=False)  # sets each document's _id
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != _DUPLICATE_KEY for e in errors):
            raise
        failed = {int(e["index"]) for e in errors}
    stored = []
    for index, ((position, question), document) in enumerate(zip(rows, documents, strict=True)):
        if index in failed:
            invalid[position] = [duplicate]
            continue
        question.id = document["_id"]
        stored.append(question)
    return stored
