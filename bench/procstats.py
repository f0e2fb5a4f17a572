"""Helpers the benchmarks share: a free port, a child server's CPU, liveness and log, percentiles.

CPU is read from `/proc/<pid>/stat` of the server process itself, so a child it starts (the
embedded SecantusDB) is not counted as ours. Linux only.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu(pid: int) -> float:
    """utime+stime of `pid` itself in seconds (children not included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with contextlib.suppress(OSError):  # a zombie is dead for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return False


def log_tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def pct(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_if_alive(pid: int | None) -> float | None:
    """proc_cpu(pid), or None for no pid or a process that is gone (nothing to measure)."""
    return proc_cpu(pid) if pid and pid_alive(pid) else None
