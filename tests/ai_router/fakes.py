"""Fake OpenAI / Anthropic / Gemini HTTP servers speaking each vendor's real wire format.

Real HTTP on 127.0.0.1 (raw asyncio, own thread and event loop) so the real SDKs do their
own parsing. Each request pops the next scripted `Behaviour` for its vendor (default: ok).
Shared by tests/ai_router and bench/router_overhead.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Vendor = Literal["openai", "anthropic", "gemini"]
Kind = Literal["ok", "status", "hang", "cut", "cut_abrupt", "malformed", "idle_gap"]


@dataclass
class Behaviour:
    """How to answer one request.

    ok: stream `chunks` with the terminal event. status: reply `status` + vendor error body.
    hang: accept, send headers, then never send a byte. cut: send `cut_after` chunks then end
    the body cleanly without the terminal event. cut_abrupt: same but drop the TCP connection.
    malformed: `cut_after` chunks then an unparsable SSE data line. idle_gap: `cut_after`
    chunks, pause `gap_s`, then the rest.

    Like some real servers, the fake ignores the request's max tokens and never continues a
    partial answer (a continuation request gets `chunks` from the start). `repeat` sends the
    chunks that many times over (a runaway reply, built lazily); `usage` is reported as given,
    negative or absurd numbers included.
    """

    kind: Kind = "ok"
    chunks: tuple[str, ...] = ("The ", "answer ", "is ", "forty ", "two.")
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    first_token_delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    cut_after: int = 2
    gap_s: float = 0.0
    hang_s: float = 30.0
    usage: tuple[int, int] = (21, 9)
    repeat: int = 1


@dataclass
class Recorded:
    vendor: Vendor
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    chunks_sent: int = 0  # text chunks written before the answer ended or the client left


def _vendor_of(path: str) -> Vendor:
    if "chat/completions" in path or path.endswith("/embeddings"):
        return "openai"
    if (
        ":streamGenerateContent" in path
        or ":generateContent" in path
        or ":embedContent" in path
        or ":batchEmbedContents" in path
    ):
        return "gemini"
    return "anthropic"


def _is_embeddings(path: str) -> bool:
    path = path.split("?", 1)[0]
    return path.endswith(("/embeddings", ":embedContent", ":batchEmbedContents"))


def fake_embedding(text: str, dim: int) -> list[float]:
    """A deterministic vector per text (not unit length, as Gemini's shortened ones are not):
    the same text always embeds the same, different texts differently."""
    import hashlib

    seed = hashlib.sha256(text.encode()).digest()
    return [((seed[i % 32] + i) % 17 - 8) / 4.0 for i in range(dim)]


def _embeddings_body(vendor: Vendor, body: dict[str, Any], path: str) -> dict[str, Any]:
    """The vendor's embeddings answer: OpenAI `POST /v1/embeddings` (`input`, `dimensions`),
    Gemini `:embedContent` (`content`) and `:batchEmbedContents` (`requests`, each with
    `outputDimensionality`)."""
    if vendor == "openai":
        texts = body.get("input") or []
        texts = [texts] if isinstance(texts, str) else texts
        dim = int(body.get("dimensions") or 8)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(str(t), dim)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(str(t).split()) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def one(request: dict[str, Any]) -> dict[str, Any]:
        text = " ".join(p.get("text", "") for p in request.get("content", {}).get("parts", []))
        dim = int(request.get("outputDimensionality") or 8)
        return {"values": fake_embedding(text, dim)}

    if ":batchEmbedContents" in path:
        return {"embeddings": [one(r) for r in body.get("requests", [])]}
    return {"embedding": one(body)}


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _frames(
    vendor: Vendor, b: Behaviour, model: str
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(opening frames, one frame per text chunk, terminal frames)."""
    n_in, n_out = b.usage
    if vendor == "openai":
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
        }
        opening = [
            _sse(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ],
                }
            )
        ]
        content = [
            _sse(
                {**base, "choices": [{"index": 0, "delta": {"content": c}, "finish_reason": None}]}
            )
            for c in b.chunks
        ]
        terminal = [
            _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            _sse(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": n_in,
                        "completion_tokens": n_out,
                        "total_tokens": n_in + n_out,
                    },
                }
            ),
            _sse("[DONE]"),
        ]
        return opening, content, terminal
    if vendor == "anthropic":
        opening = [
            _sse(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_fake",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": n_in, "output_tokens": 1},
                    },
                },
                "message_start",
            ),
            _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        content = [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": c},
                },
                "content_block_delta",
            )
            for c in b.chunks
        ]
        terminal = [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": n_out},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return opening, content, terminal
    content = [
        _sse(
            {
                "candidates": [{"content": {"parts": [{"text": c}], "role": "model"}, "index": 0}],
                "usageMetadata": {"promptTokenCount": n_in},
                "modelVersion": model,
            }
        )
        for c in b.chunks
    ]
    terminal = [
        _sse(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": ""}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": n_in,
                    "candidatesTokenCount": n_out,
                    "totalTokenCount": n_in + n_out,
                },
                "modelVersion": model,
            }
        )
    ]
    return [], content, terminal


def _error_body(vendor: Vendor, status: int) -> dict[str, Any]:
    if vendor == "openai":
        return {"error": {"message": f"fake error {status}", "type": "fake", "code": None}}
    if vendor == "anthropic":
        kind = {
            429: "rate_limit_error",
            401: "authentication_error",
            400: "invalid_request_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"fake error {status}"}}
    return {"error": {"code": status, "message": f"fake error {status}", "status": "FAKE"}}


class _Disconnected(Exception):
    pass


class FakeVendors:
    """One server for all three vendors (routed by path). Use as a context manager."""

    def __init__(self) -> None:
        self._scripts: dict[Vendor, deque[Behaviour]] = {
            "openai": deque(),
            "anthropic": deque(),
            "gemini": deque(),
        }
        self.default: dict[Vendor, Behaviour] = {
            "openai": Behaviour(),
            "anthropic": Behaviour(),
            "gemini": Behaviour(),
        }
        self.requests: list[Recorded] = []
        self.disconnects: list[Vendor] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    # ---- control -------------------------------------------------------------------------
    def start(self) -> FakeVendors:
        self._thread = threading.Thread(target=self._run, name="fake-vendors", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> FakeVendors:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        for q in self._scripts.values():
            q.clear()
        self.default = {"openai": Behaviour(), "anthropic": Behaviour(), "gemini": Behaviour()}
        self.requests.clear()
        self.disconnects.clear()

    def script(self, vendor: Vendor, *behaviours: Behaviour) -> None:
        self._scripts[vendor].extend(behaviours)

    def count(self, vendor: Vendor) -> int:
        return sum(1 for r in self.requests if r.vendor == vendor)

    def bodies(self, vendor: Vendor) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.vendor == vendor]

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gemini_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_for(self, predicate: Callable[[], bool], within: float = 2.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return predicate()

    # ---- server --------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        loop.run_until_complete(boot())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                _method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                size = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(size) if size else b""
                body = json.loads(raw) if raw else {}
                vendor = _vendor_of(path)
                record = Recorded(vendor, path, headers, body)
                self.requests.append(record)
                queue = self._scripts[vendor]
                behaviour = queue.popleft() if queue else self.default[vendor]
                model = body.get("model") or path.split("models/")[-1].split(":")[0]
                keep = await self._respond(vendor, behaviour, model, reader, writer, record)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, _Disconnected):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _pause(self, seconds: float, vendor: Vendor, reader: asyncio.StreamReader) -> None:
        """Sleep, but notice at once if the client hangs up."""
        if seconds <= 0:
            return
        try:
            data = await asyncio.wait_for(reader.read(1), seconds)
        except TimeoutError:
            return
        except ConnectionError:  # a close with unread data arrives as a reset, not EOF
            data = b""
        if not data:
            self.disconnects.append(vendor)
            raise _Disconnected

    async def _send(self, writer: asyncio.StreamWriter, vendor: Vendor, data: bytes) -> None:
        try:
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        except ConnectionError:
            self.disconnects.append(vendor)
            raise _Disconnected from None

    async def _respond(
        self,
        vendor: Vendor,
        b: Behaviour,
        model: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: Recorded,
    ) -> bool:
        if b.kind == "status":
            payload = json.dumps(_error_body(vendor, b.status)).encode()
            extra = "".join(f"{k}: {v}\r\n" for k, v in b.headers.items())
            writer.write(
                f"HTTP/1.1 {b.status} Error\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\n{extra}\r\n".encode()
                + payload
            )
            await writer.drain()
            return True
        if _is_embeddings(record.path):  # JSON, not a stream; "ok" is the only other kind
            payload = json.dumps(_embeddings_body(vendor, record.body, record.path)).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
            return True
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
        )
        await writer.drain()
        if b.kind == "hang":
            await self._pause(b.hang_s, vendor, reader)
            return False
        opening, content, terminal = _frames(vendor, b, model)
        await self._pause(b.first_token_delay_s, vendor, reader)
        for frame in opening:
            await self._send(writer, vendor, frame)
        total = len(content) * max(1, b.repeat)
        stop_at = b.cut_after if b.kind in ("cut", "cut_abrupt", "malformed") else total
        for i in range(min(stop_at, total)):
            if b.kind == "idle_gap" and i == b.cut_after:
                await self._pause(b.gap_s, vendor, reader)
            elif i and b.chunk_delay_s:
                await self._pause(b.chunk_delay_s, vendor, reader)
            await self._send(writer, vendor, content[i % len(content)])
            record.chunks_sent += 1
        if b.kind == "malformed":
            event = b"event: content_block_delta\n" if vendor == "anthropic" else b""
            await self._send(writer, vendor, event + b'data: {"type": "content_block_delta", {\n\n')
        elif b.kind in ("ok", "idle_gap"):
            for frame in terminal:
                await self._send(writer, vendor, frame)
        if b.kind == "cut_abrupt":
            writer.transport.abort()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return b.kind not in ("cut", "malformed")


def main() -> None:
    """Serve fakes in this process (used by the benchmark so its CPU time is not counted)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--first-token-delay-ms", type=float, default=50.0)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause between chunks")
    args = parser.parse_args()
    server = FakeVendors().start()
    chunks = tuple(f"tok{i} " for i in range(args.chunks))
    for vendor in ("openai", "anthropic", "gemini"):
        server.default[vendor] = Behaviour(
            chunks=chunks,
            first_token_delay_s=args.first_token_delay_ms / 1000,
            chunk_delay_s=args.chunk_delay_ms / 1000,
            usage=(200, args.chunks),
        )
    print(server.port, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    server.stop()


if __name__ == "__main__":
    main()
