"""The client address per-client limits count: X-Forwarded-For believed only from trusted peers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.auth.clients import TrustedProxies, limit_key
from tests.conftest import make_settings

LOOPBACK = TrustedProxies(["127.0.0.1", "::1"])


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert LOOPBACK.client_address("203.0.113.9", ["198.51.100.7"]) == "203.0.113.9"
    assert LOOPBACK.client_address("203.0.113.9") == "203.0.113.9"
    assert LOOPBACK.client_address(None, ["198.51.100.7"]) == "unknown"


def test_a_trusted_peer_names_the_right_most_untrusted_hop() -> None:
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    # The client wrote "1.1.1.1" itself; our edge proxy 10.0.0.5 appended the real 198.51.100.7.
    chain = ["1.1.1.1, 198.51.100.7", "10.0.0.5"]
    assert proxies.client_address("127.0.0.1", chain) == "198.51.100.7"
    assert proxies.client_address("10.1.2.3", ["198.51.100.7:51234"]) == "198.51.100.7"
    assert proxies.client_address("10.1.2.3", ["[2001:db8::7]:443"]) == "2001:db8::7"
    # Every hop one of ours: the left-most is the best there is.
    assert proxies.client_address("127.0.0.1", ["10.0.0.9, 10.0.0.5"]) == "10.0.0.9"
    # No header, or an empty one: the peer.
    assert proxies.client_address("127.0.0.1", []) == "127.0.0.1"
    assert proxies.client_address("127.0.0.1", [" , "]) == "127.0.0.1"


def test_ipv4_mapped_peers_and_any_peer() -> None:
    assert LOOPBACK.client_address("::ffff:127.0.0.1", ["198.51.100.7"]) == "198.51.100.7"
    anyone = TrustedProxies(["*"])
    assert anyone.client_address("203.0.113.9", ["198.51.100.7"]) == "198.51.100.7"
    nobody = TrustedProxies([])
    assert nobody.client_address("127.0.0.1", ["198.51.100.7"]) == "127.0.0.1"


def test_from_scope_reads_the_asgi_peer_and_every_forwarded_header() -> None:
    scope = {
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"198.51.100.7")],
    }
    assert LOOPBACK.from_scope(scope) == "198.51.100.7"
    assert LOOPBACK.from_scope({"client": None, "headers": []}) == "unknown"


def test_limit_keys_hash_addresses_and_group_an_ipv6_slash_64() -> None:
    key = limit_key("198.51.100.7")
    assert "198" not in key and len(key) == 32
    assert limit_key("2001:db8:1:2::1") == limit_key("2001:db8:1:2:ffff::9")
    assert limit_key("2001:db8:1:2::1") != limit_key("2001:db8:1:3::1")
    assert limit_key("198.51.100.7") != limit_key("198.51.100.8")


def test_forwarded_allow_ips_setting(tmp_path: Path) -> None:
    settings = make_settings("mongodb://unused", tmp_path, forwarded_allow_ips="10.0.0.0/8, ::1")
    assert settings.forwarded_allow_ips == ["10.0.0.0/8", "::1"]
    assert make_settings("mongodb://unused", tmp_path).forwarded_allow_ips == [
        "127.0.0.1",
        "::1",
    ]
    with pytest.raises(ValidationError, match="not an IP address or network"):
        make_settings("mongodb://unused", tmp_path, forwarded_allow_ips="proxy.internal")
    with pytest.raises(ValidationError, match="rate limit"):
        make_settings("mongodb://unused", tmp_path, signup_rate_limit="lots")
