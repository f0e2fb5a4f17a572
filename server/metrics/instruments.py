"""Every Prometheus instrument of the service, defined once (docs/OPERATIONS.md lists them).

Labels are bounded by construction: HTTP routes are templates (`/api/v1/conversations/{id}`, or
`unmatched`), providers and models come from the router's configured tables, statuses and job
names from fixed sets. No id, address, e-mail or text ever becomes a label value.

Multiprocess mode (several workers, `PROMETHEUS_MULTIPROC_DIR` set before start): each process
writes its values to files in that directory and a scrape merges them. The gauges say how:
open sockets are summed over live processes, a breaker shows the worst state any live process
sees, the job counts are the most recent reading (they come from the shared queue).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NAMESPACE = "starguide"

# Seconds: a JSON route answers in milliseconds; uploads and exports take seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
# Seconds to the first token: vendors take 0.3-3 s, a cold or failing-over one longer.
_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)

http_requests = Counter(
    "http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    namespace=NAMESPACE,
)
http_duration = Histogram(
    "http_request_duration_seconds",
    "Time from the request to its response headers (for SSE streams: to the stream's start).",
    ["route", "method"],
    namespace=NAMESPACE,
    buckets=_LATENCY_BUCKETS,
)
chat_replies = Counter(
    "chat_replies",
    "Chat replies that ended, by provider, model and status (complete, failed, aborted).",
    ["provider", "model", "status"],
    namespace=NAMESPACE,
)
chat_ttft = Histogram(
    "chat_time_to_first_token_seconds",
    "From the reply's provider call starting (context built) to its first token relayed.",
    ["provider"],
    namespace=NAMESPACE,
    buckets=_TTFT_BUCKETS,
)
ai_tokens = Counter(
    "ai_tokens",
    "Tokens of ended chat replies, by provider, model and direction (input, output).",
    ["provider", "model", "direction"],
    namespace=NAMESPACE,
)
ai_cost = Counter(
    "ai_cost_usd",
    "What ended chat replies cost in US dollars, by provider and model.",
    ["provider", "model"],
    namespace=NAMESPACE,
)
open_sockets = Gauge(
    "open_sockets",
    "Admitted Socket.IO connections.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
jobs = Gauge(
    "jobs",
    "Background jobs by state (queued, running), read from the queue at scrape time.",
    ["state"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)
job_attempts = Counter(
    "job_attempts",
    "Background job attempts that ended in this process, by job name and outcome.",
    ["job", "outcome"],
    namespace=NAMESPACE,
)
breaker_state = Gauge(
    "ai_breaker_state",
    "Each AI provider's circuit breaker: 0 closed, 1 half-open, 2 open.",
    ["provider"],
    namespace=NAMESPACE,
    multiprocess_mode="livemax",
)
breaker_failures = Gauge(
    "ai_breaker_consecutive_failures",
    "Each AI provider's consecutive failures as its breaker counts them.",
    ["provider"],
    namespace=NAMESPACE,
    multiprocess_mode="livemax",
)
