"""A real OpenID provider for the tests: `tests/node/oidc_provider.mjs` (the certified
`oidc-provider` npm package) in a node subprocess, and a "browser" that signs in through its
login and consent forms."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "oidc_provider.mjs"


class OpenIdProvider:
    def __init__(self, port: int, callbacks: list[str]) -> None:
        if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
            pytest.fail(
                "tests/node/node_modules/oidc-provider is missing: `make test` installs it "
                "(npm ci --prefix tests/node)"
            )
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not installed: the single sign-on tests run a real provider")
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self._callbacks = callbacks
        self._proc = subprocess.Popen(  # noqa: S603
            [node, str(SCRIPT), str(port), ",".join(callbacks)],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._output: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                self._output.append(line)
                if line.startswith("listening "):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not ready.wait(0.1):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("oidc-provider did not start:\n" + "".join(self._output))

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)

    async def set_account(self, account_id: str, claims: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as client:
            response = await client.put(f"{self.issuer}/_test/accounts/{account_id}", json=claims)
            assert response.status_code == 204, response.text

    async def sign_in(self, authorization_url: str, account_id: str) -> str:
        """Follows the provider's redirects as a browser would, submitting its login form (the
        account id as the login) and its consent form, until it sends the browser to one of
        the app's callbacks; returns that URL."""
        async with httpx.AsyncClient(timeout=30) as browser:
            response = await browser.get(authorization_url)
            for _ in range(20):
                if response.status_code in (302, 303):
                    target = urljoin(str(response.url), response.headers["location"])
                    if any(target.startswith(c) for c in self._callbacks):
                        return target
                    response = await browser.get(target)
                elif response.status_code == 200 and "/interaction/" in response.url.path:
                    if 'name="login"' in response.text:
                        form = {"prompt": "login", "login": account_id, "password": "any"}
                    else:
                        form = {"prompt": "consent"}
                    response = await browser.post(response.url, data=form)
                else:
                    raise AssertionError(f"unexpected {response.status_code}: {response.text}")
        raise AssertionError("the provider never sent the browser back")
