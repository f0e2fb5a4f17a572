"""`GET /jobs/{job_id}` on an app without Redis: jobs run inside the server process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from tests.conftest import Api, make_settings


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        jobs_extra_handlers="tests.jobs.handlers:register_jobs",
    )


async def poll(api: Api, job_id: str, auth: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        response = await api.client.get(f"/api/v1/jobs/{job_id}", headers=auth)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("complete", "failed"):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


async def test_the_owner_reads_a_job_run_in_process(app: Any, api: Api) -> None:
    owner = await api.register()
    state = app.state.ctx
    assert type(state.jobs).__name__ == "InProcessJobQueue"
    job_id = await state.jobs.enqueue(
        "test.steps", {"steps": 3, "step_s": 0.02, "owner_id": owner["user"]["id"]}
    )
    body = await poll(api, job_id, owner["auth"])
    assert body == {
        "id": job_id,
        "name": "test.steps",
        "status": "complete",
        "progress": {"done": 3, "total": 3},
        "result": {"steps": 3, "attempt": 1},
        "error": None,
        "attempts": 1,
    }


async def test_another_user_or_a_system_job_is_not_found(app: Any, api: Api) -> None:
    owner, other = await api.register(), await api.register()
    jobs = app.state.ctx.jobs
    mine = await jobs.enqueue("test.steps", {"steps": 1, "owner_id": owner["user"]["id"]})
    system = await jobs.enqueue("test.steps", {"steps": 1})
    for job_id, auth in (
        (mine, other["auth"]),
        (system, owner["auth"]),
        ("0" * 32, owner["auth"]),
        ("not-an-id", owner["auth"]),
    ):
        response = await api.client.get(f"/api/v1/jobs/{job_id}", headers=auth)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"
    response = await api.client.get(f"/api/v1/jobs/{mine}")
    assert response.status_code == 401


async def test_the_openapi_document_lists_the_route_statuses(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert {"200", "401", "404"} <= set(operation["responses"])
    status = document["components"]["schemas"]["JobPublic"]["properties"]["status"]
    assert set(status["enum"]) == {"queued", "running", "complete", "failed"}


def test_the_worker_explains_itself_and_needs_redis(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.realtime.conftest import ROOT, _clean_env

    shown = subprocess.run(
        [sys.executable, "-m", "server.worker", "--help"],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0 and "REDIS_URL" in shown.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "server.worker"],
        cwd=ROOT,
        env=_clean_env() | {"DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "REDIS_URL" in refused.stderr
