"""gunzip of OTLP/HTTP bodies: every member, limits on size and members, linear in the body."""

from __future__ import annotations

import gzip

import pytest

from modeltrace_collector.receivers import otlp_http
from modeltrace_collector.receivers.ingest import Malformed, TooLarge
from modeltrace_collector.receivers.otlp_http import gunzip


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64 << 10])
def test_members_are_joined_whatever_the_chunk_boundaries(monkeypatch, chunk):
    monkeypatch.setattr(otlp_http, "GZIP_CHUNK", chunk)
    parts = [b"alpha" * 50, b"", b"beta", bytes(range(256)) * 3]
    body = b"".join(gzip.compress(p) for p in parts)
    assert gunzip(body, 1 << 20) == b"".join(parts)
    assert gunzip(body + b"\x00" * 9, 1 << 20) == b"".join(parts)  # zero padding some writers add


def test_bad_bodies_are_refused_with_the_reason():
    one = gzip.compress(b"x" * 1000)
    with pytest.raises(Malformed, match="truncated"):
        gunzip(one[:-5], 1 << 20)
    with pytest.raises(Malformed, match="after the last member"):
        gunzip(one + b"garbage", 1 << 20)
    with pytest.raises(Malformed, match="bad gzip body"):
        gunzip(b"\x1f\x8bnot gzip at all", 1 << 20)
    with pytest.raises(TooLarge, match="exceeds 999 bytes"):
        gunzip(one, 999)
    assert gunzip(one, 1000) == b"x" * 1000


def test_members_are_bounded():
    empty = gzip.compress(b"")
    assert gunzip(empty * otlp_http.MAX_GZIP_MEMBERS, 1 << 20) == b""
    with pytest.raises(Malformed, match="members"):
        gunzip(empty * (otlp_http.MAX_GZIP_MEMBERS + 1), 1 << 20)
    big = gzip.compress(b"y" * (4 << 20), compresslevel=1)
    assert len(gunzip(empty * 63 + big, 8 << 20)) == 4 << 20
