"""Keeps a mid-stream failover gapless: trims text the next model repeats from the partial."""

from __future__ import annotations

# How much of the continuation is held back to look for a repeat, and how far back we look.
HOLD_CHARS = 48
LOOKBACK_CHARS = 200
MIN_OVERLAP = 8


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
