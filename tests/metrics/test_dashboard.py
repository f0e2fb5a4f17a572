"""deploy/grafana-dashboard.json: valid JSON whose queries name only metrics we export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from server.metrics import instruments

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {Counter: ("_total",), Histogram: ("_bucket", "_sum", "_count"), Gauge: ("",)}


def _exported() -> set[str]:
    names: set[str] = set()
    for metric in vars(instruments).values():
        for kind, suffixes in SUFFIXES.items():
            if isinstance(metric, kind):
                names |= {metric._name + suffix for suffix in suffixes}
    return names


def test_every_query_names_an_exported_metric() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"starguide_[a-z_]+", expr)}
    exported = _exported()
    assert used and used <= exported, used - exported
    # The main figures each have a panel.
    for metric in (
        "starguide_http_requests_total",
        "starguide_http_request_duration_seconds_bucket",
        "starguide_chat_time_to_first_token_seconds_bucket",
        "starguide_chat_replies_total",
        "starguide_ai_tokens_total",
        "starguide_ai_cost_usd_total",
        "starguide_open_sockets",
        "starguide_jobs",
        "starguide_ai_breaker_state",
    ):
        assert metric in used, metric
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
