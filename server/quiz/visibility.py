"""Which questions a learner may be served, and what makes two questions the same.

One filter for every query that serves questions to learners (the quiz picker, mock tests):
published questions of the shared global bank (`org_id` None) or of the learner's own
organization. Drafts and other organizations' questions never match, so no caller has to
remember the rule.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from typing import Any, Final

from beanie import PydanticObjectId

# The minus sign and the dashes typed for it, as the hyphen-minus `normalise` reads as one.
_MINUS: Final = {"\u2212": "-", "\u2013": "-", "\u2012": "-", "\ufe63": "-", "\uff0d": "-"}


def visible_filter(org_id: PydanticObjectId | None, *, active_only: bool = True) -> dict[str, Any]:
    """The MongoDB filter for questions a learner of `org_id` may be served.

    `status` is absent on questions stored before drafts existed: `$ne` keeps them (they are
    the published bank); `org_id: None` also matches a missing field. `active_only` (the
    default) leaves out retired questions, which are never served again."""
    query: dict[str, Any] = {
        "status": {"$ne": "draft"},
        "org_id": {"$in": [None, org_id]} if org_id is not None else None,
    }
    if active_only:
        query["active"] = True
    return query


def normalise(text: str) -> str:
    """Lower case, compatibility-folded, accents, punctuation and extra spaces dropped: what
    stays the same when a question is copied with different typography. Symbols (`+`, `=`,
    `^`, `<`) and a minus sign (a `-` before a digit or not after a letter or digit: not a
    hyphen) are mathematics and stay, spaced: `+2` and `-2` are different options."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(_MINUS.get(c, c) for c in folded if not unicodedata.combining(c))
    kept = []
    for i, c in enumerate(folded):
        if c == "-":
            before = folded[i - 1] if i else " "
            after = folded[i + 1] if i + 1 < len(folded) else " "
            kept.append(" - " if after.isdigit() or not before.isalnum() else " ")
        elif unicodedata.category(c).startswith("S"):
            kept.append(f" {c} ")
        else:
            kept.append(c if c.isalnum() or c == "_" else " ")  # \w: the rest is punctuation
    return " ".join("".join(kept).split())


def fingerprint(stem: str, options: Sequence[str]) -> str:
    """The same question written twice has the same fingerprint: normalised stem and the
    normalised options in any order (reordering the options does not make a new question)."""
    parts = [normalise(stem), *sorted(normalise(o) for o in options)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
