"""Who is asking: the client address per-client limits count, the same for REST and sockets.

Behind a reverse proxy every connection comes from the proxy, and the proxy names the client in
`X-Forwarded-For`. That header is text the client can write too, so it is believed only when the
connection comes from a trusted proxy (`FORWARDED_ALLOW_IPS`), and then read from the right:
each proxy appends the address it saw, so the right-most hop that is not itself a trusted proxy
is the one our own proxies vouch for; anything left of it was written by whoever connected. It is
uvicorn's ProxyHeadersMiddleware rule with the same setting, so applying it after uvicorn already
did (as `python -m server` runs it) gives the same address again.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"
_MAX_HOST_CHARS = 100  # an unparsable hop is kept as a key, but never as a long string


def _parse_ip(host: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # "::ffff:203.0.113.5" is the IPv4 client of a dual-stack socket
    return ip


def _host(hop: str) -> str:
    """A hop without its port (`203.0.113.5:4711`, `[2001:db8::1]:4711`), normalised when it is
    an IP address."""
    hop = hop.strip()
    if hop.startswith("[") and "]" in hop:
        hop = hop[1 : hop.index("]")]
    elif hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    ip = _parse_ip(hop)
    return str(ip) if ip is not None else hop[:_MAX_HOST_CHARS]


class TrustedProxies:
    """The peers whose `X-Forwarded-For` is believed: addresses, networks, or `*` (any peer)."""

    def __init__(self, entries: Iterable[str]) -> None:
        entries = list(entries)
        self._any = "*" in entries
        self._networks = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"
        )

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str) or not host:
            return False
        if self._any:
            return True
        ip = _parse_ip(host)
        return ip is not None and any(ip in network for network in self._networks)

    def client_address(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """The peer itself, unless it is a trusted proxy: then the right-most hop of
        `X-Forwarded-For` (all such headers, in order) that is not a trusted proxy, or the
        left-most hop when every one is."""
        if not peer:
            return UNKNOWN
        if peer not in self:
            return _host(peer)
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        if not hops:
            return _host(peer)
        for hop in reversed(hops):
            host = _host(hop)
            if host not in self:
                return host
        return _host(hops[0])

    def from_scope(self, scope: Mapping[str, Any]) -> str:
        """The client of an ASGI HTTP or websocket scope (REST requests, Socket.IO's
        `environ["asgi.scope"]`: its `REMOTE_ADDR` is a constant, not the peer)."""
        client = scope.get("client")
        peer = str(client[0]) if client else None
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers") or ()
            if name.lower() == b"x-forwarded-for"
        ]
        return self.client_address(peer, forwarded)


def limit_key(address: str) -> str:
    """What per-client limits count under: a hash (no address is stored), and for IPv6 the /64
    network, since one subscriber is routinely handed a whole /64 to rotate through."""
    ip = _parse_ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        address = str(ipaddress.IPv6Network((ip, 64), strict=False))
    return hashlib.sha256(address.encode()).hexdigest()[:32]
