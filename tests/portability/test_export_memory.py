"""Flat memory: a document far larger than the stream's pieces is never held whole, and the
whole zip never is either (the consumer here keeps nothing but a running hash)."""
from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from postbox import portability

from .conftest import World

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
BIG = 24 * 1024 * 1024


def test_a_large_document_streams_in_bounded_memory(postbox_world: World) -> None:
    w = postbox_world
    big = b"%PDF-1.4\n" + os.urandom(BIG)
    w.deliver("acme", big, "Large scan")
    for n in range(20):
        w.deliver("city", b"%PDF-1.4\n" + os.urandom(5000 + n), f"Small {n}")
    export = portability.export_postbox(w.pb, w.grant())
    total, digest = 0, hashlib.sha256()
    tracemalloc.start()
    try:
        for chunk in export:
            total += len(chunk)
            digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > BIG and export.report.documents == 21
    assert export.report.bytes == len(big) + sum(5009 + n for n in range(20))
    # A few 64 KiB pieces in flight (decryptor, zip member, sink, chunk) - not 24 MiB.
    print(f"peak {peak / 2**20:.2f} MiB for a {BIG / 2**20:.0f} MiB document")
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
