"""`python bench/_serve_counted.py`: `python -m server` with every MongoDB command counted.

The benches start this instead of `python -m server` when `bench/_child.py`'s `server_env(...,
command_counts=path)` sets `STARGUIDE_BENCH_COMMAND_COUNTS`. A PyMongo `CommandListener` is
registered globally before the server builds its client, so it sees every command this process
sends (requests, background tasks, the after-reply work; SecantusDB's own process is not ours).
On SIGUSR1 the counts so far are written as JSON to that path (written to a temp file, then
renamed), with a sequence number the bench waits for: `{"seq": n, "counts": {"find users": 3}}`.

Run as a script (not `-m bench...`), so that `server` is imported from `PYTHONPATH`: a
before-and-after run points the child at another checkout (`BENCH_SERVER_PATH`) and still
counts with this file.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from pathlib import Path
from types import FrameType

from pymongo import monitoring

ENV = "STARGUIDE_BENCH_COMMAND_COUNTS"


class CommandCounter(monitoring.CommandListener):
    """Counts started commands by `<command> <collection>` (the collection when the command
    names one, e.g. `find users`, `update progress`, `getMore messages`)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # PyMongo may call listeners from its own threads

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get(name)
        if name == "getMore":
            target = event.command.get("collection")
        key = f"{name} {target}" if isinstance(target, str) else name
        with self._lock:
            self.counts[key] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def install(path: Path) -> None:
    counter = CommandCounter()
    monitoring.register(counter)
    seq = 0

    def dump(signum: int, frame: FrameType | None) -> None:
        nonlocal seq
        seq += 1
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": seq, "counts": counter.snapshot()}))
        tmp.replace(path)

    signal.signal(signal.SIGUSR1, dump)


if __name__ == "__main__":
    target = os.environ.get(ENV)
    if target:
        install(Path(target))
    from server.__main__ import main

    main()
