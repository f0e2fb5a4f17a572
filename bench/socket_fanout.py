"""Socket.IO gateway: connection rate, memory per socket and room fan-out latency, vs bare.

Two servers are measured the same way, one after the other, each a child process:

- **bare**: a python-socketio server written in this file (`--serve-bare --port N`):
  `AsyncServer(async_mode="asgi", cors_allowed_origins=[], max_http_buffer_size=65536)` under
  uvicorn (`uvicorn.run(ASGIApp(sio), host="127.0.0.1", log_level="warning")`). Its `connect`
  accepts everyone and joins the room named by `auth["room"]`; its `typing` handler re-emits
  `typing` with the same payload to room "r", skipping the sender, and acks `{"ok": true}`.
- **starguide**: `python -m server` in a temp DATA_DIR (embedded SecantusDB), AI_PROVIDERS=
  offline, no REDIS_URL/MONGODB_URL, no AI keys, socket event limits that never trip but keep
  a one-minute window as the default does. Learners A and B and --filler-users more are
  registered over REST; A creates a conversation and B is added to its `member_ids` directly
  in the database (pymongo), as a study group would.

For each server, in order:

1. **Connect**: after a warm-up of 100 connects and disconnects, --sockets sockets (N, default
   5000) are opened, at most --in-flight (100) handshakes at a time: a websocket to
   `/socket.io/?EIO=4&transport=websocket`, the Engine.IO open packet, a Socket.IO CONNECT
   with an auth payload, done when the server's `40{"sid": ...}` arrives. StarGuide sockets
   send `{"token": <access token>}`: the first 100 (--members) B's, the others the filler
   learners' in turn; on the bare server the first 100 send `{"room": "r"}`, the others `{}`.
   Reported: sockets connected, connections per second (N over the time from the first
   handshake to the last), handshake time p50/p99, server CPU per connection (utime+stime of
   the server process itself from /proc/<pid>/stat over the phase; for StarGuide this
   excludes its SecantusDB child, which serves each connect's user lookup and is printed
   separately as "not ours"), and server RSS per socket (VmRSS from /proc/<pid>/status
   before the phase and after the idle window below, divided by N; the figure --settle-s
   after the last connect is printed too).
2. **Idle**: the N sockets stay connected for --idle-s (25 s, one Engine.IO ping interval,
   so every socket is pinged once and answers); server CPU per second over that window.
3. **Refusals**: sockets that must be refused (StarGuide: a bad token and no token; bare: an
   unknown namespace) must end in a CONNECT_ERROR (`44...`); they are not counted as
   connections and their error codes are printed.
4. **Fan-out**, with the N sockets still connected: the 100 members are part of the N
   (StarGuide: they now send `conversation:join`; bare: they joined room "r" at connect),
   plus one extra emitter socket (A; joined too). The emitter sends --warmup-messages then
   --messages (200) `typing` events, `is_typing` alternating so every one is relayed, one
   every --spacing-ms (20 ms) but never before the previous one has reached all members (or
   --timeout-s passed). Latency is the receipt time at each member (when its bytes reached
   the client's event loop) minus the send time at the emitter, same process, monotonic
   clock: p50/p99/max over every (message, member) receipt, and p50/p99 of the time until
   the last of the 100 has it. Every member must get every message exactly once with the
   expected payload, the emitter none (never echoed to the typist), and every ack must be
   ok (and `relayed: true` on StarGuide); anything else is counted, printed, and makes the
   exit status 1. Server CPU per fan-out message is measured over the measured messages.

The client is a minimal websocket (RFC 6455, permessage-deflate offered like a browser;
--no-deflate to turn it off) and Engine.IO 4 / Socket.IO 5 client written here on bare
asyncio protocols (uvloop): no task per socket, so 5000 fit in this one process next to the
server. It answers Engine.IO and websocket pings. Its own CPU per connect and per fan-out
message is printed, so a saturated client would show. Server, SecantusDB and this client
share the machine's cores. The open-files soft limit is raised to the hard limit (the
children inherit it) and printed. Linux only (reads /proc); run from the repo root, about
2 minutes with the defaults:

    .venv/bin/python bench/socket_fanout.py
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._child import (  # noqa: E402
    Child,
    embedded_db_state,
    new_conversation,
    register,
    server_argv,
    server_env,
    wait_port,
    wait_ready,
)
from bench.procstats import cpu_if_alive, free_port, pct, proc_cpu  # noqa: E402

PASSWORD = "bench-socket-fanout-pw-1"  # noqa: S105 - throwaway accounts in a temp database
BARE_ROOM = "r"
HOST = "127.0.0.1"
FAKE_CONVERSATION_ID = "0123456789abcdef01234567"  # the bare server does not look at it


# ---- the bare server ---------------------------------------------------------------------------
def serve_bare(port: int) -> None:
    """The baseline: python-socketio alone, with our server's Socket.IO options, under the
    same uvicorn (uvloop, httptools, websockets-sansio with permessage-deflate)."""
    raise_nofile()
    import socketio
    import uvicorn

    sio = socketio.AsyncServer(
        async_mode="asgi", cors_allowed_origins=[], max_http_buffer_size=65536
    )

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool:
        if isinstance(auth, dict) and isinstance(auth.get("room"), str):
            await sio.enter_room(sid, auth["room"])
        return True

    @sio.event
    async def typing(sid: str, data: Any) -> dict[str, Any]:
        await sio.emit("typing", data, room=BARE_ROOM, skip_sid=sid)
        return {"ok": True}

    uvicorn.run(socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_level="warning")


# ---- helpers -----------------------------------------------------------------------------------
def raise_nofile() -> tuple[int, int]:
    """Raises the soft open-files limit to the hard limit; returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def note(args: argparse.Namespace, text: str) -> None:
    if args.progress:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# ---- a minimal Engine.IO 4 / Socket.IO 5 websocket client ---------------------------------------
class Refused(Exception):
    """The server answered the Socket.IO CONNECT with CONNECT_ERROR (`44`)."""

    def __init__(self, payload: Any) -> None:
        super().__init__(json.dumps(payload)[:200])
        self.payload = payload

    @property
    def code(self) -> str:
        if not isinstance(self.payload, dict):  # python-socketio may send a bare string
            return str(self.payload)
        data = self.payload.get("data")
        if isinstance(data, dict) and data.get("code"):
            return str(data["code"])
        return str(self.payload.get("message", "?"))


class ProtocolError(Exception):
    pass


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PINGS: Counter[str] = Counter()  # pings answered by all sockets of this process


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")


class WebSocket(asyncio.Protocol):
    """A websocket client (RFC 6455, text frames, optional permessage-deflate, RFC 7692) as a
    bare asyncio protocol: no task per connection, so thousands stay cheap. Frames are handed
    to `on_text(text, t)` with `t` the time the bytes arrived (perf_counter)."""

    def __init__(self, host: str, path: str, deflate: bool, owner: SioSocket) -> None:
        self.host, self.path, self.offer_deflate, self.owner = host, path, deflate, owner
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.inflater: Any = None
        self.deflater: Any = None
        self.server_reset = self.client_reset = False
        self.client_wbits = self.server_wbits = 15
        self.frags: list[bytes] = []
        self.frag_compressed = False
        self.frag_opcode = 1
        owner.ws = self

    # -- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        ext = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            if self.offer_deflate
            else ""
        )
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{ext}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        t = time.perf_counter()
        self.buf += data
        try:
            if not self.upgraded and not self._handshake():
                return
            self._frames(t)
        except Exception as exc:
            self.owner.fail(exc)
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(exc)

    # -- receiving
    def _handshake(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 16384:
                raise ProtocolError("no end of the HTTP response headers")
            return False
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise ProtocolError(f"websocket upgrade refused: {head[0]}")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        digest = hashlib.sha1((self.key + WS_GUID).encode()).digest()  # noqa: S324 - RFC 6455
        if headers.get("sec-websocket-accept") != base64.b64encode(digest).decode():
            raise ProtocolError("bad Sec-WebSocket-Accept")
        ext = headers.get("sec-websocket-extensions", "")
        if ext:
            params = [p.strip() for p in ext.split(";")]
            if params[0] != "permessage-deflate" or not self.offer_deflate:
                raise ProtocolError(f"unexpected extension {ext!r}")
            opts = dict(p.partition("=")[::2] for p in params[1:])
            self.server_reset = "server_no_context_takeover" in opts
            self.client_reset = "client_no_context_takeover" in opts
            self.client_wbits = int(opts.get("client_max_window_bits") or 15)
            self.server_wbits = int(opts.get("server_max_window_bits") or 15)
            self.inflater = zlib.decompressobj(wbits=-self.server_wbits)
            self.deflater = zlib.compressobj(wbits=-self.client_wbits)
        self.upgraded = True
        self.owner.upgraded()
        return True

    def _frames(self, t: float) -> None:
        buf, pos, end = self.buf, 0, len(self.buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b1 & 0x80:
                raise ProtocolError("masked frame from the server")
            length, head = b1 & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if end - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping: pong with the same payload
                PINGS["websocket"] += 1
                self._send_frame(0x8A, payload)
            elif opcode == 0xA:
                pass
            elif opcode == 0x8:  # close: answer it and drop the connection
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.owner.closing = f"close frame {code} from the server"
                if self.transport is not None and not self.transport.is_closing():
                    self._send_frame(0x88, payload[:2])
                    self.transport.close()
                break
            else:
                if opcode != 0:  # a new message (text 1 or binary 2)
                    self.frags, self.frag_compressed = [], bool(b0 & 0x40)
                    self.frag_opcode = opcode
                self.frags.append(payload)
                if b0 & 0x80:  # FIN
                    data = b"".join(self.frags) if len(self.frags) > 1 else self.frags[0]
                    self.frags = []
                    if self.frag_compressed:
                        if self.inflater is None:
                            raise ProtocolError("compressed frame without permessage-deflate")
                        data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                        if self.server_reset:
                            self.inflater = zlib.decompressobj(wbits=-self.server_wbits)
                    if self.frag_opcode == 1:
                        self.owner.on_text(data.decode(), t)
        del buf[:pos]

    # -- sending
    def send_text(self, text: str) -> None:
        payload, b0 = text.encode(), 0x81
        if self.deflater is not None:
            payload = self.deflater.compress(payload) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
            payload, b0 = payload[:-4], 0xC1
            if self.client_reset:
                self.deflater = zlib.compressobj(wbits=-self.client_wbits)
        self._send_frame(b0, payload)

    def _send_frame(self, b0: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the websocket is closed")
        n = len(payload)
        if n < 126:
            head = bytes((b0, 0x80 | n))
        elif n < 65536:
            head = bytes((b0, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((b0, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.transport.write(head + mask + mask_payload(payload, mask))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


EventHandler = Callable[["SioSocket", str, Any, float], None]


class SioSocket:
    """One Socket.IO client over one websocket: connect, emit with ack, events, pings.

    Engine.IO packets are text frames: `0` open, `1` close, `2` ping (answered `3`), `4`
    message. A Socket.IO packet follows the `4`: `0` CONNECT, `1` DISCONNECT, `2` EVENT,
    `3` ACK, `4` CONNECT_ERROR, then an optional `/namespace,`, an optional ack id, and JSON.
    Everything happens in the protocol's callbacks; `connect()` awaits one future.
    """

    __slots__ = (
        "_auth",
        "_ready",
        "acks",
        "closed",
        "closing",
        "namespace",
        "next_ack",
        "on_event",
        "sid",
        "state",
        "ws",
    )

    def __init__(self, on_event: EventHandler | None = None, namespace: str = "/") -> None:
        self.ws: WebSocket | None = None
        self.sid: str | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.on_event = on_event
        self.closed: str | None = None  # why the connection ended, None while open
        self.closing: str | None = None
        self.namespace = namespace
        self.state = "upgrade"
        self._auth: Any = None
        self._ready: asyncio.Future[None] | None = None

    @property
    def _prefix(self) -> str:
        return "" if self.namespace == "/" else self.namespace + ","

    async def connect(self, host: str, port: int, auth: dict[str, Any], *, deflate: bool) -> None:
        """Websocket upgrade, Engine.IO open, Socket.IO CONNECT; raises Refused on `44`."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._auth = auth
        try:
            await loop.create_connection(
                lambda: WebSocket(
                    f"{host}:{port}", "/socket.io/?EIO=4&transport=websocket", deflate, self
                ),
                host,
                port,
            )
            await self._ready
        except BaseException:
            self.abort()
            raise

    # -- called by the protocol
    def upgraded(self) -> None:
        self.state = "open"

    def fail(self, exc: BaseException) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(exc)

    def lost(self, exc: Exception | None) -> None:
        reason = self.closing or (f"connection lost: {exc!r}" if exc else "connection closed")
        if self.closed is None:
            self.closed = reason
        self.fail(ConnectionError(reason))
        for fut in self.acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError(reason))
        self.acks.clear()

    def on_text(self, msg: str, t: float) -> None:
        if msg == "2":
            PINGS["engine.io"] += 1
            self.send("3")
            return
        if not msg:
            return
        if self.state == "open":
            if msg[0] != "0":
                raise ProtocolError(f"expected the Engine.IO open packet, got {msg!r:.80}")
            self.state = "connecting"
            self.send("40" + self._prefix + json.dumps(self._auth, separators=(",", ":")))
            return
        if msg[0] == "1":
            self.closing = "engine.io close from the server"
            self.abort()
            return
        if msg[0] != "4" or len(msg) < 2:
            return
        kind, body = msg[1], msg[2:]
        if body.startswith("/"):
            if not body.startswith(self._prefix):
                return
            body = body[len(self._prefix) :]
        if self.state == "connecting":
            if kind == "0":
                self.sid = json.loads(body)["sid"]
                self.state = "connected"
                assert self._ready is not None
                if not self._ready.done():
                    self._ready.set_result(None)
            elif kind == "4":
                self.closing = "refused"
                self.fail(Refused(json.loads(body) if body else {}))
                self.abort()
            else:
                raise ProtocolError(f"unexpected packet while connecting: {msg!r:.80}")
            return
        if kind == "2":
            i = 0
            while i < len(body) and body[i].isdigit():
                i += 1
            args = json.loads(body[i:])
            if self.on_event is not None:
                self.on_event(self, args[0], args[1] if len(args) > 1 else None, t)
        elif kind == "3":
            i = 0
            while body[i].isdigit():
                i += 1
            fut = self.acks.pop(int(body[:i]), None)
            if fut is not None and not fut.done():
                args = json.loads(body[i:])
                fut.set_result((args[0] if args else None, t))
        elif kind == "1":
            self.closing = "socket.io disconnect from the server"
            self.abort()

    # -- API
    def send(self, text: str) -> None:
        if self.ws is None:
            raise ConnectionError("not connected")
        self.ws.send_text(text)

    def emit(self, event: str, data: Any) -> asyncio.Future[Any]:
        """Sends `event` with an ack id; the future gets (ack payload, receipt time)."""
        self.next_ack += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = fut
        packet = json.dumps([event, data], separators=(",", ":"))
        self.send(f"42{self._prefix}{self.next_ack}{packet}")
        return fut

    async def call(self, event: str, data: Any, timeout_s: float) -> Any:
        fut = self.emit(event, data)
        async with asyncio.timeout(timeout_s):
            return (await fut)[0]

    def abort(self) -> None:
        """Drops the TCP connection without a close handshake (fast, for thousands)."""
        if self.ws is not None:
            self.ws.abort()


# ---- the servers -------------------------------------------------------------------------------
@dataclass
class Target:
    """What the measurement needs to know about one server."""

    name: str
    child: Child
    port: int
    member_auth: dict[str, Any]
    filler_auth: list[dict[str, Any]]
    emitter_auth: dict[str, Any]
    conversation_id: str = FAKE_CONVERSATION_ID
    emitter_user_id: str | None = None  # StarGuide: A's id, expected in the relayed payload
    join: bool = False  # StarGuide: members and emitter send conversation:join
    refusals: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    db_pid: int | None = None


def bare_target(args: argparse.Namespace, workdir: Path) -> Target:
    port = free_port()
    child = Child(
        "bare",
        [sys.executable, str(Path(__file__).resolve()), "--serve-bare", "--port", str(port)],
        dict(os.environ),
        workdir,
    )
    return Target(
        name="bare",
        child=child,
        port=port,
        member_auth={"room": BARE_ROOM},
        filler_auth=[{}],
        emitter_auth={"room": BARE_ROOM},
        # An unknown namespace is the bare server's only refusal.
        refusals=[("/nope", {}, "*")],
    )


def starguide_child(workdir: Path) -> tuple[Child, int]:
    port = free_port()
    env = server_env(
        port=port,
        data_dir=workdir / "data",
        settings={
            "OFFLINE_TOKEN_DELAY_MS": "0",
            "CORS_ORIGINS": "http://localhost:3000",
            "CHAT_RATE_LIMIT": "100000/minute",
            # Never trips (the emitter sends 50 events/s), but has a one-minute window like the
            # default "20/second;600/minute": a socket's counts live as long as in production.
            "SOCKET_EVENT_RATE_LIMIT": "1000/second;60000/minute",
        },
    )
    return Child("starguide", server_argv(), env, workdir), port


async def starguide_setup(args: argparse.Namespace, child: Child, port: int) -> Target:
    """Waits for /readyz, registers A, B and fillers, makes B a member of A's conversation."""
    import httpx

    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=60.0, trust_env=False) as client:
        await wait_ready(child, client, timeout_s=120)
        run = uuid.uuid4().hex[:8]
        sem = asyncio.Semaphore(4)  # argon2 is CPU-heavy

        async def one(label: str) -> dict[str, str]:
            async with sem:
                return await register(
                    client,
                    email=f"bench-{run}-{label}@example.com",
                    password=PASSWORD,
                    display_name=f"Bench {label}",
                )

        users = await asyncio.gather(
            *(one(x) for x in ["a", "b"] + [f"f{i}" for i in range(args.filler_users)])
        )
        a, b, fillers = users[0], users[1], users[2:]
        conversation_id = await new_conversation(client, a["token"])
    db = embedded_db_state(child.workdir / "data")
    if db is None:
        raise RuntimeError("no embedded-mongo.json in the StarGuide DATA_DIR")
    await asyncio.to_thread(add_member, db["port"], args.mongodb_db, conversation_id, b["id"])
    return Target(
        name="starguide",
        child=child,
        port=port,
        member_auth={"token": b["token"]},
        filler_auth=[{"token": f["token"]} for f in fillers] or [{"token": b["token"]}],
        emitter_auth={"token": a["token"]},
        conversation_id=conversation_id,
        emitter_user_id=a["id"],
        join=True,
        refusals=[
            ("/", {"token": "not-a-token"}, "invalid_token"),
            ("/", {}, "missing_token"),
        ],
        db_pid=db["pid"],
    )


def add_member(port: int, db_name: str, conversation_id: str, user_id: str) -> None:
    from bson import ObjectId
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=10_000
    )
    try:
        result = client[db_name]["conversations"].update_one(
            {"_id": ObjectId(conversation_id)}, {"$addToSet": {"member_ids": ObjectId(user_id)}}
        )
        if result.matched_count != 1:
            raise RuntimeError(f"conversation {conversation_id} not found in {db_name}")
    finally:
        client.close()


# ---- the measurement ---------------------------------------------------------------------------
def ignore_events(sock: SioSocket, name: str, data: Any, t: float) -> None:
    return None


async def open_sockets(
    target: Target, auths: list[dict[str, Any]], args: argparse.Namespace, handlers: list[Any]
) -> tuple[list[SioSocket | None], list[float], Counter[str], float]:
    """One socket per auth, --in-flight at a time: (sockets, handshake times, errors, wall)."""
    sockets: list[SioSocket | None] = [None] * len(auths)
    times: list[float] = []
    errors: Counter[str] = Counter()
    next_index = iter(range(len(auths)))

    async def worker() -> None:
        for i in next_index:
            sock = SioSocket(handlers[i] if i < len(handlers) else ignore_events)
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(args.timeout_s * 3):
                    await sock.connect(HOST, target.port, auths[i], deflate=args.deflate)
            except Refused as exc:
                errors[f"refused: {exc.code}"] += 1
            except Exception as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            else:
                times.append(time.perf_counter() - t0)
                sockets[i] = sock

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(args.in_flight, len(auths)))))
    return sockets, times, errors, time.perf_counter() - t0


async def close_all(sockets: list[SioSocket | None]) -> None:
    for sock in sockets:
        if sock is not None:
            sock.abort()
    await asyncio.sleep(0.5)  # the connection_lost callbacks


class FanOut:
    """Receipts of the emitter's `typing` events, by the message window they arrived in."""

    def __init__(self, members: int) -> None:
        self.members = members
        self.k = -1  # the message being fanned out (its window lasts until the next send)
        self.seen: set[int] = set()
        self.done = asyncio.Event()
        self.receipts: list[tuple[int, int, float, Any]] = []  # (member, window, time, data)
        self.emitter_typing = 0
        self.other_events: Counter[str] = Counter()

    def begin(self, k: int) -> None:
        self.k, self.seen = k, set()
        self.done.clear()

    def member_handler(self, member: int) -> EventHandler:
        def handle(sock: SioSocket, name: str, data: Any, t: float) -> None:
            if name != "typing":
                self.other_events[name] += 1
                return
            self.receipts.append((member, self.k, t, data))
            self.seen.add(member)
            if len(self.seen) >= self.members:
                self.done.set()

        return handle

    def emitter_handler(self, sock: SioSocket, name: str, data: Any, t: float) -> None:
        if name == "typing":
            self.emitter_typing += 1
        else:
            self.other_events[f"emitter {name}"] += 1


def expected_payload(target: Target, k: int) -> dict[str, Any]:
    if target.emitter_user_id is None:  # bare: the same payload back
        return {"conversation_id": target.conversation_id, "is_typing": k % 2 == 0}
    return {
        "conversation_id": target.conversation_id,
        "user_id": target.emitter_user_id,
        "is_typing": k % 2 == 0,
    }


async def run_target(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    out: dict[str, Any] = {"server": target.name, "problems": []}
    pid = target.child.pid
    n, members = args.sockets, args.members

    # Warm-up: imports, caches and the allocator's first growth are not per-socket costs.
    warm_auths = [target.filler_auth[i % len(target.filler_auth)] for i in range(100)]
    warm, _, warm_errors, _ = await open_sockets(target, warm_auths, args, [])
    await close_all(warm)
    out["warmup_errors"] = dict(warm_errors)
    del warm
    await asyncio.sleep(args.settle_s)
    base0, t_base0 = proc_cpu(pid), time.perf_counter()  # the server's own idle CPU
    await asyncio.sleep(args.base_idle_s)
    out["server_base_idle_cpu_ms_per_s"] = (
        (proc_cpu(pid) - base0) / (time.perf_counter() - t_base0) * 1e3
    )

    # 1. Connect N sockets.
    fan = FanOut(members)
    auths = [target.member_auth] * members + [
        target.filler_auth[i % len(target.filler_auth)] for i in range(n - members)
    ]
    handlers = [fan.member_handler(j) for j in range(members)]
    gc.collect()  # this client's (its GC is off during the phases)
    rss0, cpu0 = proc_rss_kib(pid), proc_cpu(pid)
    db0 = cpu_if_alive(target.db_pid)
    me0 = time.process_time()
    note(args, f"{target.name}: connecting {n} sockets")
    sockets, times, errors, wall = await open_sockets(target, auths, args, handlers)
    note(args, f"{target.name}: connect phase done in {wall:.1f} s")
    me_cpu = time.process_time() - me0
    cpu1 = proc_cpu(pid)
    db_cpu = proc_cpu(target.db_pid) - db0 if db0 is not None and target.db_pid else None
    connected = sum(1 for s in sockets if s is not None)
    await asyncio.sleep(args.settle_s)  # a quiet moment: the server's GC and deferred work
    rss_settled = proc_rss_kib(pid)
    # Holding N idle sockets for one Engine.IO ping cycle (25 s): every socket that connected
    # in the phase above gets its first ping (answered by the client) and, from uvicorn, its
    # first websocket ping, in this window (if the connect phase took less than about 18 s);
    # a shorter window would count the pings of only part of the sockets.
    pings0 = PINGS.copy()
    note(args, f"{target.name}: idle window of {args.idle_s:g} s")
    idle0, t_idle0 = proc_cpu(pid), time.perf_counter()
    await asyncio.sleep(args.idle_s)
    idle_cpu, idle_wall = proc_cpu(pid) - idle0, time.perf_counter() - t_idle0
    idle_pings = dict(PINGS - pings0)
    rss1 = proc_rss_kib(pid)
    out.update(
        sockets=n,
        connected=connected,
        connect_errors=dict(errors),
        connect_wall_s=wall,
        connect_rate=connected / wall if wall else float("nan"),
        handshake_p50_ms=pct(times, 0.5) * 1e3,
        handshake_p99_ms=pct(times, 0.99) * 1e3,
        server_cpu_ms_per_connect=(cpu1 - cpu0) / max(connected, 1) * 1e3,
        server_cpu_ms=(cpu1 - cpu0) * 1e3,
        db_cpu_ms_per_connect=db_cpu / max(connected, 1) * 1e3 if db_cpu is not None else None,
        client_cpu_ms_per_connect=me_cpu / max(connected, 1) * 1e3,
        client_cpu_share_connect=me_cpu / wall if wall else float("nan"),
        rss0_kib=rss0,
        rss_settled_kib=rss_settled,
        rss1_kib=rss1,
        rss_kib_per_socket=(rss1 - rss0) / max(connected, 1),
        rss_kib_per_socket_settled=(rss_settled - rss0) / max(connected, 1),
        server_idle_cpu_ms_per_s=idle_cpu / idle_wall * 1e3,
        idle_window_s=idle_wall,
        idle_pings=idle_pings,
        server_idle_cpu_us_per_socket_per_25s=idle_cpu / max(connected, 1) * 1e6 * 25 / idle_wall,
    )

    # 2. Refusals: must be CONNECT_ERROR, never a connection.
    refusals = []
    for namespace, auth, want in target.refusals:
        probe = SioSocket(namespace=namespace)
        try:
            async with asyncio.timeout(args.timeout_s * 3):
                await probe.connect(HOST, target.port, auth, deflate=args.deflate)
        except Refused as exc:
            ok = want == "*" or exc.code == want
            refusals.append({"auth": auth, "namespace": namespace, "refused": exc.code, "ok": ok})
        except Exception as exc:
            refusals.append({"auth": auth, "namespace": namespace, "error": repr(exc), "ok": False})
        else:
            probe.abort()
            refusals.append({"auth": auth, "namespace": namespace, "accepted": True, "ok": False})
    out["refusals"] = refusals

    # 3. Fan-out to the members, with all N still connected.
    member_socks = [s for s in sockets[:members] if s is not None]
    emitter = SioSocket(fan.emitter_handler)
    try:
        async with asyncio.timeout(args.timeout_s * 3):
            await emitter.connect(HOST, target.port, target.emitter_auth, deflate=args.deflate)
    except Exception as exc:
        out["problems"].append(f"the emitter could not connect: {exc!r}")
        await close_all(sockets)
        return out
    join_fail: Counter[str] = Counter()
    if target.join:
        socks = [emitter, *member_socks]
        acks = await asyncio.gather(
            *(
                s.call("conversation:join", {"conversation_id": target.conversation_id}, 30)
                for s in socks
            ),
            return_exceptions=True,
        )
        for ack in acks:
            if isinstance(ack, BaseException):
                join_fail[f"{type(ack).__name__}: {ack}"[:120]] += 1
            elif not (isinstance(ack, dict) and ack.get("ok") is True):
                join_fail[json.dumps(ack)[:160]] += 1
        await asyncio.sleep(0.5)  # the presence events of the joins settle
    out["join_failures"] = dict(join_fail)
    fan.other_events.clear()
    if len(member_socks) < members:
        out["problems"].append(f"only {len(member_socks)} of {members} members connected")

    total = args.warmup_messages + args.messages
    gc.collect()  # this client's, before the measured messages
    note(args, f"{target.name}: fan-out of {total} messages")
    sends: list[float] = []
    ack_times: list[float] = []
    ack_bad: Counter[str] = Counter()
    timeouts = 0
    cpu_f0, me_f0, t_f0 = proc_cpu(pid), time.process_time(), time.perf_counter()
    pings_f0 = PINGS.copy()
    slot = time.perf_counter()
    for k in range(total):
        if k == args.warmup_messages:
            cpu_f0, me_f0 = proc_cpu(pid), time.process_time()
            t_f0, pings_f0 = time.perf_counter(), PINGS.copy()
        now = time.perf_counter()
        if now < slot:
            await asyncio.sleep(slot - now)
        fan.begin(k)
        payload = {"conversation_id": target.conversation_id, "is_typing": k % 2 == 0}
        t_send = time.perf_counter()
        sends.append(t_send)
        try:
            fut = emitter.emit("typing", payload)
        except Exception as exc:
            out["problems"].append(f"the emitter could not send: {exc!r}")
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fan.done.wait(), args.timeout_s)
        if not fan.done.is_set():
            timeouts += 1
        try:
            ack, t_ack = await asyncio.wait_for(fut, args.timeout_s)
        except Exception as exc:
            ack_bad[type(exc).__name__] += 1
        else:
            ok = isinstance(ack, dict) and ack.get("ok") is True
            if ok and target.join:
                ok = ack.get("relayed") is True
            if not ok:
                ack_bad[json.dumps(ack)[:160]] += 1
            if k >= args.warmup_messages:
                ack_times.append(t_ack - t_send)
        slot = t_send + args.spacing_ms / 1000
    fan_wall = time.perf_counter() - t_f0
    note(args, f"{target.name}: fan-out done")
    server_fan_cpu = proc_cpu(pid) - cpu_f0
    me_fan_cpu = time.process_time() - me_f0
    fan_pings = dict(PINGS - pings_f0)  # background traffic in the measured window
    await asyncio.sleep(0.5)  # late or duplicate receipts

    # Check and measure every receipt.
    sent = len(sends)
    counts: Counter[tuple[int, int]] = Counter()
    lat: list[float] = []
    per_msg: dict[int, list[float]] = {}
    wrong = 0
    for member, k, t, data in fan.receipts:
        if k < 0 or k >= sent:
            wrong += 1
            continue
        counts[(member, k)] += 1
        if data != expected_payload(target, k):
            wrong += 1
            continue
        if k >= args.warmup_messages and counts[(member, k)] == 1:
            lat.append(t - sends[k])
            per_msg.setdefault(k, []).append(t - sends[k])
    measured = range(args.warmup_messages, sent)
    missing = sum(1 for k in measured for j in range(members) if counts[(j, k)] == 0)
    dups = sum(c - 1 for (j, k), c in counts.items() if c > 1 and k >= args.warmup_messages)
    last = [max(v) for k, v in per_msg.items() if len(v) == members]
    still_open = sum(1 for s in sockets if s is not None and s.closed is None)
    out.update(
        members=members,
        members_connected=len(member_socks),
        messages=len(measured),
        receipts=len(lat),
        expected_receipts=len(measured) * members,
        missing=missing,
        duplicates=dups,
        wrong_payload=wrong,
        emitter_echoes=fan.emitter_typing,
        fanout_timeouts=timeouts,
        ack_failures=dict(ack_bad),
        other_events=dict(fan.other_events),
        receipt_p50_ms=pct(lat, 0.5) * 1e3,
        receipt_p99_ms=pct(lat, 0.99) * 1e3,
        receipt_max_ms=max(lat, default=float("nan")) * 1e3,
        last_p50_ms=pct(last, 0.5) * 1e3,
        last_p99_ms=pct(last, 0.99) * 1e3,
        complete_messages=len(last),
        ack_p50_ms=pct(ack_times, 0.5) * 1e3,
        ack_p99_ms=pct(ack_times, 0.99) * 1e3,
        fanout_rate=len(measured) / fan_wall if fan_wall else float("nan"),
        server_cpu_ms_per_message=server_fan_cpu / max(len(measured), 1) * 1e3,
        client_cpu_ms_per_message=me_fan_cpu / max(len(measured), 1) * 1e3,
        fanout_window_s=fan_wall,
        fanout_window_pings=fan_pings,
        still_open=still_open,
        closed_reasons=dict(Counter(s.closed for s in sockets if s is not None and s.closed)),
    )
    emitter.abort()
    await close_all(sockets)
    return out


def failures_of(r: dict[str, Any]) -> list[str]:
    bad = list(r.get("problems", []))
    if r.get("warmup_errors"):
        bad.append(f"warm-up connect errors {r['warmup_errors']}")
    if "connected" not in r:
        return bad
    if r["connected"] != r["sockets"]:
        bad.append(f"connected {r['connected']} of {r['sockets']}: {r['connect_errors']}")
    for ref in r["refusals"]:
        if not ref["ok"]:
            bad.append(f"refusal probe not refused as expected: {ref}")
    if "missing" not in r:
        return bad
    if r["join_failures"]:
        bad.append(f"conversation:join failures {r['join_failures']}")
    for key in ("missing", "duplicates", "wrong_payload", "emitter_echoes", "fanout_timeouts"):
        if r[key]:
            bad.append(f"{key}: {r[key]}")
    if r["ack_failures"]:
        bad.append(f"typing ack failures {r['ack_failures']}")
    if r["still_open"] != r["connected"]:
        bad.append(f"{r['connected'] - r['still_open']} sockets closed: {r['closed_reasons']}")
    return bad


async def measure(args: argparse.Namespace, name: str, workdir: Path) -> dict[str, Any]:
    db_pid: int | None = None
    if name == "bare":
        target = bare_target(args, workdir)
        child = target.child
        child.start()
    else:
        child, port = starguide_child(workdir)
        child.start()
    note(args, f"{name}: server pid {child.pid}, log {child.log_path}")
    result: dict[str, Any] = {"server": name, "problems": []}
    try:
        if name == "bare":
            await wait_port(child, target.port)
        else:
            target = await starguide_setup(args, child, port)
            db_pid = target.db_pid
        result = await run_target(args, target)
        child.check_alive()
    except Exception as exc:
        result["problems"].append(f"{type(exc).__name__}: {exc}")
    finally:
        result["problems"] += child.stop(db_pid)
        errors = [
            line
            for line in child.log_path.read_text(errors="replace").splitlines()
            if '"level": "error"' in line or "Traceback" in line or " ERROR " in line
        ]
        result["server_log_errors"] = len(errors)
        result["server_log_error_examples"] = errors[:3]
    return result


# ---- report ------------------------------------------------------------------------------------
ROWS: list[tuple[str, str, str]] = [
    # (label, key, format)
    ("sockets connected", "connected", "{:.0f}"),
    ("connect rate (connections/s)", "connect_rate", "{:.0f}"),
    ("handshake p50 / p99 (ms)", "handshake", ""),
    ("server CPU per connect (ms)", "server_cpu_ms_per_connect", "{:.2f}"),
    ("server RSS per socket (KiB)", "rss_kib_per_socket", "{:.1f}"),
    ("server CPU holding N idle (ms/s)", "server_idle_cpu_ms_per_s", "{:.1f}"),
    ("fan-out per receipt p50 (ms)", "receipt_p50_ms", "{:.2f}"),
    ("fan-out per receipt p99 (ms)", "receipt_p99_ms", "{:.2f}"),
    ("fan-out per receipt max (ms)", "receipt_max_ms", "{:.1f}"),
    ("fan-out to last of room p50 (ms)", "last_p50_ms", "{:.2f}"),
    ("fan-out to last of room p99 (ms)", "last_p99_ms", "{:.2f}"),
    ("emitter ack p50 (ms)", "ack_p50_ms", "{:.2f}"),
    ("server CPU per fan-out msg (ms)", "server_cpu_ms_per_message", "{:.2f}"),
]


def cell(r: dict[str, Any] | None, key: str, fmt: str) -> str:
    if r is None:
        return "-"
    if key == "handshake":
        if "handshake_p50_ms" not in r:
            return "-"
        return f"{r['handshake_p50_ms']:.1f} / {r['handshake_p99_ms']:.1f}"
    v = r.get(key)
    if v is None or v != v:  # missing or NaN
        return "-"
    if key == "connected":
        return f"{v}/{r['sockets']}"
    return fmt.format(v)


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> str:
    if a is None or b is None:
        return ""
    if key == "handshake":
        key = "handshake_p50_ms"
    x, y = a.get(key), b.get(key)
    if not isinstance(x, int | float) or not isinstance(y, int | float) or not y or x != x:
        return ""
    if key == "connected":
        return ""
    return f"{x / y:.2f}x"


def print_report(s: dict[str, Any]) -> None:
    by = {r["server"]: r for r in s["results"]}
    bare, sg = by.get("bare"), by.get("starguide")
    print(
        f"{s['sockets']} sockets, --in-flight {s['in_flight']}, permessage-deflate "
        f"{'offered' if s['deflate'] else 'off'}; fan-out: {s['members']} members (part of the "
        f"N) + 1 emitter, {s['messages']} messages every {s['spacing_ms']} ms after "
        f"{s['warmup_messages']} warm-up; open files limit {s['nofile']}"
    )
    print(f"{'':36}{'bare':>16}{'StarGuide':>16}{'SG/bare':>10}")
    for label, key, fmt in ROWS:
        sg_over_bare = ratio(sg, bare, key)
        print(f"{label:36}{cell(bare, key, fmt):>16}{cell(sg, key, fmt):>16}{sg_over_bare:>10}")
    for r in s["results"]:
        name = r["server"]
        if "connected" in r:
            db = r.get("db_cpu_ms_per_connect")
            print(
                f"{name}: client CPU {r['client_cpu_ms_per_connect']:.2f} ms per connect "
                f"({r['client_cpu_share_connect']:.0%} of one core during the connect phase)"
                + (f"; not ours: SecantusDB {db:.2f} ms CPU per connect" if db is not None else "")
                + f"; server RSS {r['rss0_kib'] / 1024:.1f} -> {r['rss1_kib'] / 1024:.1f} MiB "
                f"({r['rss_kib_per_socket_settled']:.1f} KiB per socket {s['settle_s']:g} s after "
                f"the last connect); connect phase {r['connect_wall_s']:.1f} s; refused as "
                f"expected: {[x.get('refused', x) for x in r['refusals']]}"
            )
            pings = r["idle_pings"]
            print(
                f"{name}: idle window {r['idle_window_s']:.1f} s: "
                f"{pings.get('engine.io', 0)} Engine.IO and {pings.get('websocket', 0)} websocket "
                f"pings answered; server CPU {r['server_idle_cpu_ms_per_s']:.1f} ms/s "
                f"({r['server_base_idle_cpu_ms_per_s']:.1f} ms/s before the connects)"
            )
        if "missing" in r:
            print(
                f"{name}: {r['receipts']} of {r['expected_receipts']} receipts "
                f"({r['complete_messages']} of {r['messages']} messages reached all "
                f"{r['members']}); missing {r['missing']}, duplicates {r['duplicates']}, wrong "
                f"payload {r['wrong_payload']}, echoed to the emitter {r['emitter_echoes']}, ack "
                f"failures {r['ack_failures'] or 0}; {r['fanout_rate']:.1f} messages/s; client "
                f"CPU {r['client_cpu_ms_per_message']:.2f} ms per message; sockets still open "
                f"{r['still_open']}/{r['connected']}"
                + (f"; other events {r['other_events']}" if r["other_events"] else "")
            )
            pings = r["fanout_window_pings"]
            print(
                f"{name}: background during the {r['fanout_window_s']:.1f} s of measured "
                f"messages: {pings.get('engine.io', 0)} Engine.IO and "
                f"{pings.get('websocket', 0)} websocket pings answered"
            )
        if r["server_log_errors"]:
            print(f"{name}: server log has {r['server_log_errors']} error lines, e.g.")
            for line in r["server_log_error_examples"]:
                print(f"    {line[:200]}")
        for problem in failures_of(r):
            print(f"{name}: FAILED: {problem}")


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    # The client makes few reference cycles; its own full collections over 5000 sockets' objects
    # would only add pauses to what it measures. Collected between the phases instead.
    gc.disable()
    results = []
    for name in args.servers:
        workdir = Path(tempfile.mkdtemp(prefix=f"starguide-fanout-{name}-"))
        try:
            results.append(await measure(args, name, workdir))
        finally:
            if args.keep_data:
                print(f"kept {workdir}", file=sys.stderr)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    return {
        "sockets": args.sockets,
        "in_flight": args.in_flight,
        "members": args.members,
        "messages": args.messages,
        "warmup_messages": args.warmup_messages,
        "spacing_ms": args.spacing_ms,
        "deflate": args.deflate,
        "settle_s": args.settle_s,
        "idle_s": args.idle_s,
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "results": results,
    }


def run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=5000, help="sockets to connect (N)")
    parser.add_argument("--messages", type=int, default=200, help="measured fan-out messages")
    parser.add_argument("--warmup-messages", type=int, default=20, help="fan-out warm-up")
    parser.add_argument("--members", type=int, default=100, help="room size (part of the N)")
    parser.add_argument("--spacing-ms", type=float, default=20.0, help="fan-out send spacing")
    parser.add_argument("--in-flight", type=int, default=100, help="concurrent handshakes")
    parser.add_argument("--filler-users", type=int, default=8, help="StarGuide: token owners")
    parser.add_argument("--settle-s", type=float, default=2.0, help="quiet time after phases")
    parser.add_argument(
        "--idle-s",
        type=float,
        default=25.0,
        help="idle window after the connects, before the fan-out (Engine.IO pings every 25 s)",
    )
    parser.add_argument("--timeout-s", type=float, default=5.0, help="per fan-out/ack wait")
    parser.add_argument(
        "--servers",
        default="bare,starguide",
        help="comma-separated, in order: bare, starguide (default both)",
    )
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="do not offer permessage-deflate (browsers do)",
    )
    parser.add_argument("--mongodb-db", default="starguide", help="StarGuide's MONGODB_DB")
    parser.add_argument(
        "--base-idle-s", type=float, default=5.0, help="server idle CPU before the connects"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--progress", action="store_true", help="print the phases and server pids on stderr"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the temp dirs and logs")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if sys.platform != "linux":
        parser.error("reads /proc/<pid>/stat: Linux only")
    if args.serve_bare:
        serve_bare(args.port)
        return
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or any(s not in ("bare", "starguide") for s in args.servers):
        parser.error("--servers takes bare and/or starguide")
    if not 0 < args.members <= args.sockets:
        parser.error("--members must be between 1 and --sockets")
    # The client holds N sockets and each server child N more (children inherit the limit).
    soft, hard = raise_nofile()
    if soft < args.sockets + 200:
        parser.error(f"open files limit {soft} (hard {hard}) is too low for {args.sockets}")
    summary = run(amain(args))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_report(summary)
    if any(failures_of(r) for r in summary["results"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
