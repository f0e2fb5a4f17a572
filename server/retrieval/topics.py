"""Topic tagging by meaning: which syllabus topic a message is about when it names none.

"A car starts from rest at 2 m/s^2, how far in 5 s?" contains no topic word, so the phrase
lookup of server/memory/taxonomy.py finds nothing and the learner memory never learns from it.
Here each topic is described by its name, its synonyms and a few key phrases learners use in
problems (data/topic_cues.json: every syllabus topic has some, written from the syllabus rather
than from the labelled messages, so topics nobody tested are findable too), and a message,
Hinglish filler words left out (_FILLER), is scored against every topic three ways:

- the best cosine between the message and any single phrase of the topic (a problem often
  echoes one phrase: "pendulum ... time period");
- the cosine with the topic's whole description (several weak hints add up);
- BM25 over the descriptions, scaled to the best topic (exact terms such as "nephron").

The sum, weighted (WEIGHTS), ranks the topics; the taxonomy adds its phrase hits on top so a
topic the learner names keeps winning. All embeddings are the local model's, whatever
`EMBEDDINGS` says: tagging runs on every chat message and must not wait on a network call.
Measured in tests/retrieval/test_topic_tagging.py and docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

import bm25s
import numpy as np

from server.retrieval.embedders import LocalEmbedder, Matrix, local_embedder
from server.retrieval.index import lexical_tokens

# (best single phrase, whole description, lexical): chosen on tests/retrieval/tagging_messages.tsv
# and tagging_dev.tsv, never on the held-out sets.
WEIGHTS: Final = (0.5, 0.5, 0.3)


# Words of any study request ("give me a practice problem", "can you help me") and everyday
# words that are also topic words ("time limit", "best order", "Rahul Gupta"): as lexical
# evidence alone they would tag small talk with topics such as "Ethics Case Studies". They
# still count through the embeddings and through the taxonomy's phrases.
_STUDY_WORDS: Final = frozenset(
    """problem question practice study studie help today doubt topic chapter answer solve
    find calculate value exam test tomorrow sir mam please thank thanks hello hi good
    time limit order set solution plan power state work change current name rank hour
    week month day best gupta kabir std ncr system process rate field cell force""".split()
)


def _terms(text: str) -> list[str]:
    return [t for t in lexical_tokens(text) if t not in _STUDY_WORDS]


# Hindi/Hinglish function words ("kaise", "hai", "kitna"): they carry no topic, but the local
# model places them near Indian history and culture, so a Hinglish physics doubt drifted
# towards UPSC topics. They are left out of the text the embedding sees (chosen from Hindi
# grammar, not from any labelled message).
_FILLER: Final = frozenset(
    """hai hain ho hota hoti hote tha thi the ka ki ke ko se me mein mai par pe aur ya bhi
    kya kaise kyun kyon kyu kab kahan kaha kitna kitni kitne kaun kon jo toh to na nahi
    karo kare karte karta karna kar batao bata samjhao samjha nikalo nikale nikaale
    ek yeh ye woh wo iska uska iski uski isme usme agar jab tab hoga hogi honge hua hui
    konsa kaunsa konsi kaunsi kuch sab wala wali wale raha rahi rahe gaya gayi diya liya
    mujhe mera meri hum tum aap apna apni""".split()
)
_RAW_WORD: Final = re.compile(r"\S+")


def _meaning_text(text: str) -> str:
    """`text` without Hinglish filler words (unchanged when nothing else would be left)."""
    kept = [w for w in _RAW_WORD.findall(text) if w.lower().strip("?,.!") not in _FILLER]
    return " ".join(kept) if kept else text


@dataclass(frozen=True, slots=True)
class TopicText:
    """A topic as the tagger sees it: id and phrases (name first, then synonyms)."""

    id: str
    phrases: tuple[str, ...]


@cache
def load_cues() -> dict[str, tuple[str, ...]]:
    """The packaged key phrases per topic id."""
    raw = json.loads((files("server.retrieval") / "data" / "topic_cues.json").read_text("utf-8"))
    return {str(k): tuple(str(c) for c in v) for k, v in raw["cues"].items()}


class TopicTagger:
    """Scores a message against every topic; built once per process (about a second)."""

    def __init__(
        self,
        topics: Iterable[TopicText],
        *,
        cues: Mapping[str, Sequence[str]] | None = None,
        embedder: LocalEmbedder | None = None,
    ) -> None:
        self._embedder = embedder or local_embedder()
        cues = cues if cues is not None else load_cues()
        self.ids: list[str] = []
        phrases: list[str] = []
        owners: list[int] = []
        descriptions: list[str] = []
        for index, topic in enumerate(topics):
            texts = (*topic.phrases, *cues.get(topic.id, ()))
            self.ids.append(topic.id)
            phrases.extend(texts)
            owners.extend([index] * len(texts))
            descriptions.append(". ".join(texts))
        unknown = set(cues) - set(self.ids)
        if unknown:
            raise ValueError(f"topic cues name unknown topics: {sorted(unknown)[:5]}")
        self._position = {topic_id: i for i, topic_id in enumerate(self.ids)}
        # Each topic's phrases are contiguous, so its best phrase is one reduceat segment.
        self._starts = np.searchsorted(np.asarray(owners, dtype=np.intp), np.arange(len(self.ids)))
        self._phrases: Matrix = self._embedder.embed_sync(phrases)
        self._descriptions: Matrix = self._embedder.embed_sync(descriptions)
        self._bm25 = bm25s.BM25()
        self._bm25.index([_terms(d) or ["_"] for d in descriptions], show_progress=False)

    def position(self, topic_id: str) -> int | None:
        return self._position.get(topic_id)

    def scores(self, text: str) -> Matrix:
        """One meaning score per topic (in `ids` order); higher is closer."""
        vector = self._embedder.embed_sync([_meaning_text(text)])[0]
        best_phrase = np.maximum.reduceat(self._phrases @ vector, self._starts)
        whole = self._descriptions @ vector
        tokens = [t for t in _terms(text) if t in self._bm25.vocab_dict]
        lexical = np.zeros(len(self.ids), dtype=np.float32)
        if tokens:
            lexical = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
            top = float(lexical.max())
            if top > 0:
                lexical /= top
        a, b, c = WEIGHTS
        return (a * best_phrase + b * whole + c * lexical).astype(np.float32)

    def best(self, text: str, *, limit: int = 3) -> list[tuple[str, float]]:
        """The closest topics by meaning alone, best first (for explanations and tests)."""
        scores = self.scores(text)
        order = np.argsort(-scores, kind="stable")[:limit]
        return [(self.ids[i], float(scores[i])) for i in order]
