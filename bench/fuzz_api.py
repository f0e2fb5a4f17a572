"""Fuzz the REST API with Schemathesis against its own OpenAPI document (dev only: `make fuzz`).

Starts `python -m server` on a free port with the embedded database in a temporary DATA_DIR
(no MONGODB_URL, no REDIS_URL, no vendor keys: the offline provider, OFFLINE_TOKEN_DELAY_MS=0,
rate limits and the AI budget out of the way), signs up a learner, creates an admin with
`scripts.create_admin`, then runs `schemathesis run` once per identity:

1. a learner's bearer token, on every operation but `DELETE /users/me` (admin routes: 403);
2. an admin's bearer token (of the default organization: the whole deployment), same set;
3. `DELETE /users/me` alone, with a throwaway learner (it erases the token's own account).

Checks: `not_a_server_error` (no 5xx), `status_code_conformance` (no status the document does
not list), `content_type_conformance` and `response_schema_conformance` (bodies, errors
included, match their schemas). Exit status 1 when a pass finds a failure; the reports
(JUnit, and a pytest file reproducing each failure) are in --report-dir.

    .venv/bin/python bench/fuzz_api.py                  # ~2,500 cases, a few minutes
    .venv/bin/python bench/fuzz_api.py --max-examples 5 # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._child import (  # noqa: E402
    Child,
    ChildError,
    embedded_db_pid,
    server_argv,
    server_env,
    wait_ready_blocking,
)
from bench.procstats import free_port, log_tail  # noqa: E402

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
PASSWORD = "fuzz-api-password-1"  # noqa: S105 - throwaway accounts in a temp database
# Settings that keep limits from hiding what the fuzzer should reach. Rate limits still
# answer 429 (documented) when hit; these only make that rare.
SERVER_ENV = {
    "ENVIRONMENT": "development",
    # Set empty, so a developer's .env cannot point the fuzzer at a real database or Redis.
    "MONGODB_URL": "",
    "REDIS_URL": "",
    "AI_PROVIDERS": "offline",
    "OFFLINE_TOKEN_DELAY_MS": "0",
    "CHAT_RATE_LIMIT": "100000/minute",
    "AI_DAILY_BUDGET_USD": "none",
    "LOGIN_MAX_FAILURES": "100000",
    "SIGNUP_RATE_LIMIT": "100000/minute",
    "LOGIN_RATE_LIMIT": "100000/minute",
    "PASSWORD_RESET_RATE_LIMIT": "100000/minute",
    "SSE_HEARTBEAT_SECONDS": "5",
}


@dataclass
class Target:
    base_url: str
    learner: dict[str, str]
    admin: dict[str, str]
    spare_learner: dict[str, str]
    log: Path


@dataclass
class PassResult:
    name: str
    exit_code: int
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    output: str = ""


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _register(base_url: str, name: str) -> dict[str, str]:
    body = {
        "email": f"{name}-{uuid.uuid4().hex[:8]}@fuzz.example.com",
        "password": PASSWORD,
        "display_name": name.title(),
    }
    response = httpx.post(f"{base_url}/api/v1/auth/register", json=body, timeout=30)
    response.raise_for_status()
    return _bearer(response.json()["access_token"])


def _admin(base_url: str, env: dict[str, str]) -> dict[str, str]:
    email = f"admin-{uuid.uuid4().hex[:8]}@fuzz.example.com"
    subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, "-m", "scripts.create_admin", "--email", email],
        input=f"{PASSWORD}\n".encode(),
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    login = httpx.post(
        f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    login.raise_for_status()
    return _bearer(login.json()["access_token"])


@contextlib.contextmanager
def running_server(work_dir: Path) -> Iterator[Target]:
    """`python -m server` on a free port with its own embedded database, plus identities."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(port=port, data_dir=work_dir / "data", settings=SERVER_ENV)
    server = Child("starguide", server_argv(), env, work_dir, cwd=ROOT, tail_lines=40)
    server.start()
    try:
        try:
            wait_ready_blocking(server, base_url, timeout_s=120)
        except ChildError as exc:
            raise SystemExit(str(exc)) from None
        yield Target(
            base_url=base_url,
            learner=_register(base_url, "learner"),
            admin=_admin(base_url, env),
            spare_learner=_register(base_url, "spare"),
            log=server.log_path,
        )
    finally:
        server.stop(embedded_db_pid(work_dir / "data"), wait_s=60)


def schemathesis_binary() -> str:
    found = Path(sys.executable).with_name("schemathesis")
    if found.exists():
        return str(found)
    which = shutil.which("schemathesis")
    if which is None:
        raise SystemExit("schemathesis is not installed: .venv/bin/pip install -e '.[dev]'")
    return which


def run_pass(
    target: Target,
    *,
    name: str,
    headers: dict[str, str],
    report_dir: Path,
    max_examples: int,
    seed: int,
    workers: int,
    phases: str,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    max_time: int | None = None,
) -> PassResult:
    junit = report_dir / f"{name}.junit.xml"
    command = [
        schemathesis_binary(),
        "run",
        f"{target.base_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--phases",
        phases,
        "--request-timeout",
        "30",
        "--continue-on-failure",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--generation-database",
        "none",
        "--report",
        "junit,pytest",
        "--report-dir",
        str(report_dir),
        "--report-junit-path",
        str(junit),
        "--report-pytest-path",
        str(report_dir / f"{name}_failures.py"),
    ]
    for key, value in headers.items():
        command += ["--header", f"{key}: {value}"]
    for pattern in include or []:
        command += ["--include-name", pattern]
    for pattern in exclude or []:
        command += ["--exclude-name", pattern]
    if max_time is not None:
        command += ["--max-time", str(max_time)]
    # Run from the report directory: schemathesis keeps its crash files (for `schemathesis
    # replay`) under ./.schemathesis, which belongs there, not in the repository.
    done = subprocess.run(  # noqa: S603 - schemathesis, fixed arguments
        command, capture_output=True, text=True, check=False, cwd=report_dir
    )
    result = PassResult(name=name, exit_code=done.returncode, output=done.stdout + done.stderr)
    result.cases = _count_cases(result.output)
    result.failures = _failures(junit)
    return result


def _count_cases(output: str) -> int:
    """From schemathesis' summary: `Test cases:` then a line `N generated, ...`."""
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines[:-1]):
        if line == "Test cases:":
            first = lines[i + 1].split(" ", 1)[0].replace(",", "")
            if first.isdigit():
                return int(first)
    return 0


def _failures(junit: Path) -> list[str]:
    if not junit.exists():
        return ["no JUnit report was written"]
    tree = ET.parse(junit)  # noqa: S314 - our own report
    found = []
    for case in tree.iter("testcase"):
        for problem in [*case.iter("failure"), *case.iter("error")]:
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            found.append(f"{case.get('name')}: {message[0] if message else problem.tag}")
    return found


def fuzz(
    *,
    max_examples: int,
    seed: int,
    workers: int,
    phases: str,
    report_dir: Path,
    max_time: int | None = None,
) -> list[PassResult]:
    """The three passes of the module doc against one fresh server."""
    report_dir = report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    erase_me = "DELETE /api/v1/users/me"
    # Alone, the erasure has no links to follow: no stateful phase for it.
    erasure_phases = ",".join(p for p in phases.split(",") if p != "stateful") or "fuzzing"
    with (
        tempfile.TemporaryDirectory(prefix="starguide-fuzz-") as tmp,
        running_server(Path(tmp)) as target,
    ):

        def one(
            name: str, headers: dict[str, str], *, include: bool, examples: int, steps: str
        ) -> PassResult:
            return run_pass(
                target,
                name=name,
                headers=headers,
                report_dir=report_dir,
                max_examples=examples,
                seed=seed,
                workers=workers,
                phases=steps,
                include=[erase_me] if include else None,
                exclude=None if include else [erase_me],
                max_time=max_time,
            )

        results = [
            one("learner", target.learner, include=False, examples=max_examples, steps=phases),
            one("admin", target.admin, include=False, examples=max_examples, steps=phases),
            one("erasure", target.spare_learner, include=True, examples=5, steps=erasure_phases),
        ]
        if any(r.exit_code != 0 or r.failures for r in results):
            print(f"--- server log (tail)\n{log_tail(target.log, 40)}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=1414)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--max-time", type=int, default=None, help="seconds per pass")
    parser.add_argument("--report-dir", type=Path, default=ROOT / ".data" / "fuzz")
    parser.add_argument("--verbose", action="store_true", help="print schemathesis' output")
    args = parser.parse_args()
    started = time.monotonic()
    results = fuzz(
        max_examples=args.max_examples,
        seed=args.seed,
        workers=args.workers,
        phases=args.phases,
        report_dir=args.report_dir,
        max_time=args.max_time,
    )
    failed = False
    for result in results:
        if args.verbose or result.exit_code not in (0, 1):
            print(result.output)
        state = "ok" if result.exit_code == 0 and not result.failures else "FAILED"
        print(f"{result.name}: {result.cases} cases, {len(result.failures)} failures: {state}")
        for failure in result.failures:
            print(f"  - {failure}")
        failed = failed or state != "ok"
    total = sum(r.cases for r in results)
    print(
        f"total: {total} cases in {time.monotonic() - started:.0f} s; reports in {args.report_dir}"
    )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
