"""A mixed learner workload for Locust: `locust -f bench/locustfile.py --host http://...`.

Each simulated learner signs up once (argon2 is deliberately slow: sign-up and login are the
most expensive requests we serve, so they are a small share here, as in real use), then loops
over what a learner does in a study session, weighted roughly as a session would be:
read the conversation list, chat with a streamed reply (read to its `assistant:end`), take a
quiz question and answer it, look at progress, and now and then log in again.

Requests are named by route template (`/conversations/{id}/messages`), so the report groups
them as the server's metrics do. `bench/load.py` starts the server(s) and runs this file
headless; run it by hand against any deployment (never a production one with real learners:
it creates accounts).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from typing import Any

from locust import HttpUser, between, task

API = "/api/v1"
PASSWORD = "load-test-" + "pw" * 6

_ROUND_ROBIN = itertools.count()

QUESTIONS = (
    "Explain Newton's second law with an example from a JEE problem.",
    "How do I balance a redox reaction in basic medium?",
    "What is the difference between mitosis and meiosis for NEET?",
    "Give me a quick way to remember the trigonometric identities.",
    "Why does the photoelectric effect show light is quantised?",
)


class Learner(HttpUser):
    """One learner with one account and one conversation, looping over a study session."""

    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        # bench/load.py runs several instances: each learner sticks to one, as behind a load
        # balancer with sticky sessions (STARGUIDE_HOSTS, comma separated; else --host).
        hosts = [h for h in os.environ.get("STARGUIDE_HOSTS", "").split(",") if h]
        if hosts:
            self.client.base_url = hosts[next(_ROUND_ROBIN) % len(hosts)]
        self.email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        answer = self.client.post(
            f"{API}/auth/register",
            json={"email": self.email, "password": PASSWORD, "display_name": "Load learner"},
            name="/auth/register",
        )
        answer.raise_for_status()
        self._auth(answer.json())
        created = self.client.post(
            f"{API}/conversations",
            json={"title": "Load test"},
            headers=self.headers,
            name="/conversations [create]",
        )
        created.raise_for_status()
        self.conversation_id = created.json()["id"]

    def _auth(self, body: dict[str, Any]) -> None:
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}

    @task(4)
    def list_conversations(self) -> None:
        self.client.get(
            f"{API}/conversations?limit=20", headers=self.headers, name="/conversations"
        )

    @task(2)
    def read_messages(self) -> None:
        self.client.get(
            f"{API}/conversations/{self.conversation_id}/messages?limit=50",
            headers=self.headers,
            name="/conversations/{id}/messages",
        )

    @task(3)
    def chat(self) -> None:
        """A streamed reply, read to its end. Locust times a streamed request to its headers
        (the row `... [stream]`); the whole reply, to `assistant:end`, is reported as its own
        row `chat reply (to end)`, and a stream without that event is a failure there."""
        body = {"content": random.choice(QUESTIONS), "client_message_id": uuid.uuid4().hex}
        started = time.perf_counter()
        first_token: float | None = None
        error: Exception | None = None
        length = 0
        with self.client.post(
            f"{API}/conversations/{self.conversation_id}/messages",
            json=body,
            headers={**self.headers, "Accept": "text/event-stream"},
            name="/conversations/{id}/messages [stream]",
            stream=True,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            response.success()
            event = ""
            error = RuntimeError("stream ended without assistant:end")
            for raw in response.iter_lines():
                line = raw.decode() if isinstance(raw, bytes) else raw
                length += len(line)
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "assistant:token" and first_token is None:
                        first_token = time.perf_counter()
                elif line.startswith("data:") and event == "assistant:error":
                    error = RuntimeError(json.loads(line[5:]).get("code", "error"))
                    break
                elif line.startswith("data:") and event == "assistant:end":
                    error = None
                    break
        ended = time.perf_counter()
        fire = self.environment.events.request.fire
        fire(
            request_type="SSE",
            name="chat reply (to end)",
            response_time=(ended - started) * 1000,
            response_length=length,
            exception=error,
            context={},
        )
        if first_token is not None:
            fire(
                request_type="SSE",
                name="chat first token",
                response_time=(first_token - started) * 1000,
                response_length=0,
                exception=None,
                context={},
            )

    @task(3)
    def quiz(self) -> None:
        got = self.client.get(f"{API}/quiz/next", headers=self.headers, name="/quiz/next")
        if got.status_code != 200:
            return
        question = got.json()["question"]
        self.client.post(
            f"{API}/quiz/attempts",
            json={
                "question_id": question["id"],
                "option": random.randrange(len(question["options"])),
                "client_attempt_id": uuid.uuid4().hex,
            },
            headers=self.headers,
            name="/quiz/attempts",
        )

    @task(2)
    def progress(self) -> None:
        self.client.get(f"{API}/progress/me", headers=self.headers, name="/progress/me")

    @task(1)
    def leaderboard(self) -> None:
        self.client.get(
            f"{API}/leaderboard?scope=org&period=week", headers=self.headers, name="/leaderboard"
        )

    @task(1)
    def log_in_again(self) -> None:
        answer = self.client.post(
            f"{API}/auth/login",
            json={"email": self.email, "password": PASSWORD},
            name="/auth/login",
        )
        if answer.status_code == 200:
            self._auth(answer.json())
