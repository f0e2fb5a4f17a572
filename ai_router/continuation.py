"""Keeps a mid-stream failover seamless: the continuation is checked against the partial answer.

The next model is asked to continue the text already delivered (the partial). Two things go
wrong in practice, and the consumer must see neither as doubled text:

- an **overlap**: it restates the last words of the partial; they are dropped;
- a **restart**: it ignores the request and answers again from the beginning. A restart that
  repeats the partial word for word is dropped up to where the partial ends, and the stream goes
  on seamlessly. A restart that says the same thing differently cannot be spliced: the text
  delivered so far is withdrawn (a reset, see `SeamOutput.reset`) and the restart becomes the
  answer.
"""

from __future__ import annotations

from dataclasses import dataclass

# How much of the continuation is held back to look for an overlap, and how far back we look.
HOLD_CHARS = 48
LOOKBACK_CHARS = 200
MIN_OVERLAP = 8
# A continuation whose first characters repeat at least this many characters of the partial's
# beginning (runs of whitespace compare equal) is a restart, not a coincidence.
RESTART_MIN_CHARS = 24


@dataclass(frozen=True, slots=True)
class SeamOutput:
    """Text to deliver; `reset`: withdraw everything delivered before it first."""

    text: str = ""
    reset: bool = False


class OverlapTrimmer:
    """Feed continuation deltas; get back only text that does not repeat the partial.

    Models asked to continue sometimes restate the last words; the first `HOLD_CHARS` are
    held until the longest suffix of the partial that prefixes them (>= `MIN_OVERLAP`
    chars) can be dropped. Doubled whitespace at the seam is dropped too.
    """

    def __init__(self, partial: str) -> None:
        self._tail = partial[-LOOKBACK_CHARS:]
        self._buf = ""
        self._done = False

    def feed(self, text: str) -> str:
        if self._done:
            return text
        self._buf += text
        if len(self._buf) < HOLD_CHARS:
            return ""
        return self.flush()

    def flush(self) -> str:
        """Release whatever is held (call at the end of the stream)."""
        if self._done:
            return ""
        self._done = True
        buf, tail = self._buf, self._tail
        self._buf = ""
        for k in range(min(len(buf), len(tail)), MIN_OVERLAP - 1, -1):
            if tail.endswith(buf[:k]):
                buf = buf[k:]
                break
        if tail[-1:].isspace():
            buf = buf.lstrip()
        return buf


def _agree(a: str, b: str) -> tuple[int, int]:
    """How far `a` and `b` agree from their starts, any run of whitespace matching any other;
    returns the index reached in each."""
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i].isspace() and b[j].isspace():
            while i < len(a) and a[i].isspace():
                i += 1
            while j < len(b) and b[j].isspace():
                j += 1
            continue
        if a[i] != b[j]:
            break
        i += 1
        j += 1
    return i, j


class ContinuationSeam:
    """Feed a continuation's deltas; get back what to deliver (see the module docstring).

    While the continuation agrees with the partial's beginning it is held: at most the
    partial's length, since it is either a restart or it diverges. Then it is a repeat (the
    repeated part is dropped), a restart (`reset`), or a real continuation (overlap trimming).
    """

    def __init__(self, partial: str) -> None:
        self._partial = partial.lstrip()
        self._buf = ""
        self._trimmer: OverlapTrimmer | None = None
        self._decided = not self._partial  # a whitespace-only partial: nothing to compare
        if self._decided:
            self._trimmer = OverlapTrimmer(partial)

    def feed(self, text: str) -> SeamOutput:
        if self._decided:
            return SeamOutput(self._trimmer.feed(text) if self._trimmer else text)
        self._buf += text
        buf = self._buf.lstrip()
        i, j = _agree(self._partial, buf)
        if i == len(self._partial):
            # A word-for-word restart: what follows the repeated partial continues it.
            return self._decide(SeamOutput(buf[j:]))
        if j == len(buf):
            return SeamOutput()  # still agreeing: undecided
        if i >= RESTART_MIN_CHARS:
            return self._decide(SeamOutput(buf, reset=True))
        self._trimmer = OverlapTrimmer(self._partial)
        return self._decide(SeamOutput(self._trimmer.feed(self._buf)))

    def flush(self) -> SeamOutput:
        """Release what is held at the end of the stream. A continuation that ended while
        still repeating the partial's beginning added nothing: it is dropped."""
        if self._trimmer is not None:
            return SeamOutput(self._trimmer.flush())
        self._decided = True
        self._buf = ""
        return SeamOutput()

    def _decide(self, out: SeamOutput) -> SeamOutput:
        self._decided = True
        self._buf = ""
        return out
