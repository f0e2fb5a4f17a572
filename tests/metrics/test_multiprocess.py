"""Several worker processes, one scrape: prometheus_client's multiprocess mode through
`PROMETHEUS_MULTIPROC_DIR`, and no tracing or Sentry import while they are not configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.metrics import exposition

ROOT = Path(__file__).resolve().parents[2]

# What one worker records: a request, a reply, a socket; `stop` leaves as a clean shutdown does.
WORKER = """
import sys
from server import metrics
from server.metrics import exposition, instruments
instruments.http_requests.labels(route="/api/v1/x", method="GET", status="200").inc()
instruments.chat_ttft.labels(provider="offline").observe(0.3)
metrics.ChatMetrics()  # importable without a router
metrics.socket_opened()
metrics.record_breakers({"openai": {"state": sys.argv[1], "consecutive_failures": 1}})
if sys.argv[2] == "stop":
    exposition.process_stopped()
"""


def _worker(directory: Path, breaker: str, ending: str) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    subprocess.run(  # noqa: S603
        [sys.executable, "-c", WORKER, breaker, ending], env=env, check=True, timeout=60
    )


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_one_scrape_sees_every_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _worker(tmp_path, "open", "stop")
    _worker(tmp_path, "closed", "keep")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body, content_type = exposition.render()
    assert content_type.startswith("text/plain")
    samples = _samples(body.decode())
    request = frozenset({"route": "/api/v1/x", "method": "GET", "status": "200"}.items())
    assert samples[("starguide_http_requests_total", request)] == 2
    ttft = frozenset({"provider": "offline", "le": "0.5"}.items())
    assert samples[("starguide_chat_time_to_first_token_seconds_bucket", ttft)] == 2
    # Live gauges: the worker that stopped cleanly left the sum and the max.
    assert samples[("starguide_open_sockets", frozenset())] == 1
    assert samples[("starguide_ai_breaker_state", frozenset({("provider", "openai")}))] == 0


def test_tracing_and_sentry_cost_nothing_when_off(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from server.app import create_app\n"
        "from server.ai import build_router\n"
        "from server.config import Settings\n"
        f"s = Settings(_env_file=None, environment='test', data_dir={str(tmp_path)!r})\n"
        "create_app(s)\n"
        "build_router(s)\n"
        # (redis-py itself imports opentelemetry.sdk.metrics whenever the SDK is installed.)
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk.trace',"
        " 'sentry_sdk', 'opentelemetry.instrumentation', 'opentelemetry.exporter'))]\n"
        "assert not loaded, loaded\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OTEL_EXPORTER_OTLP_ENDPOINT", "SENTRY_DSN", "PROMETHEUS_MULTIPROC_DIR")
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
