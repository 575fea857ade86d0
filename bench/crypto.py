"""Crypto benchmark: seal/open throughput against raw AES-256-GCM, peak RSS, HPKE and Ed25519.

Run: .venv/bin/python bench/crypto.py [--mib 256] [--rss-gib 2]
Prints figures and ratios against a raw baseline taken in the same run (no assertions).
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hpke  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from crypto.envelope import DocumentAddress, open_document, seal_document  # noqa: E402
from crypto.keys import RecipientKeyPair  # noqa: E402

PIECE = 64 * 1024


class Zeros(io.RawIOBase):
    """A readable stream of n pseudo-random-ish bytes without holding them in memory."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.block = os.urandom(PIECE)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        k = min(len(b), self.left, PIECE)
        b[:k] = self.block[:k]
        self.left -= k
        return k


class Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.n += len(b)
        return len(b)


def raw_gcm(total: int, with_hashes: bool = False) -> float:
    """AES-256-GCM over the same stream in 64 KiB chunks; optionally plus the two SHA-256
    passes (ciphertext hash, plaintext commitment) that the format requires of any sealer."""
    import hashlib

    aead, src = AESGCM(AESGCM.generate_key(256)), Zeros(total)
    h1, h2 = hashlib.sha256(), hashlib.sha256()
    t = time.perf_counter()
    while piece := src.read(PIECE):
        out = aead.encrypt(os.urandom(12), piece, None)
        if with_hashes:
            h1.update(piece)
            h2.update(out)
    return total / (time.perf_counter() - t)


def peak_rss_mib() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seal_open(total: int, keys: RecipientKeyPair) -> tuple[float, float]:
    import tempfile

    addr = DocumentAddress(uuid.uuid4().hex, uuid.uuid4().hex, 1)
    reader = seal_document(Zeros(total), addr, keys.public().x25519, {"subject": "bench"})
    t = time.perf_counter()
    while reader.read(PIECE):  # to a discarding sink, as the raw baseline does
        pass
    seal_rate = total / (time.perf_counter() - t)
    reader = seal_document(Zeros(total), addr, keys.public().x25519, {"subject": "bench"})
    with tempfile.TemporaryFile() as tmp:
        while chunk := reader.read(PIECE):
            tmp.write(chunk)
        tmp.seek(0)
        t = time.perf_counter()
        n = sum(len(p) for p in open_document(tmp, addr, keys.x25519))
        open_rate = n / (time.perf_counter() - t)
    return seal_rate, open_rate


def rss_child(gib: float) -> None:
    """Seal then open ``gib`` GiB through a temp file; print this process's peak RSS."""
    import tempfile

    keys = RecipientKeyPair.generate()
    addr = DocumentAddress(uuid.uuid4().hex, uuid.uuid4().hex, 1)
    total = int(gib * 1024**3)
    with tempfile.TemporaryFile() as tmp:
        reader = seal_document(Zeros(total), addr, keys.public().x25519, {})
        while chunk := reader.read(PIECE):
            tmp.write(chunk)
        tmp.seek(0)
        sink = Sink()
        for piece in open_document(tmp, addr, keys.x25519):
            sink.write(piece)
        assert sink.n == total
    print(peak_rss_mib())


def per_second(fn, seconds: float = 1.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=256, help="bytes per throughput run (MiB)")
    ap.add_argument("--rss-gib", type=float, default=2.0, help="size of the RSS run (GiB)")
    ap.add_argument("--rss-child", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    total = args.mib * 1024 * 1024
    keys = RecipientKeyPair.generate()
    raw = raw_gcm(total)
    floor = raw_gcm(total, with_hashes=True)
    seal_rate, open_rate = seal_open(total, keys)
    mb = 1e6
    print(f"raw AES-256-GCM (64 KiB chunks):      {raw / mb:8.0f} MB/s")
    print(f"raw AES-256-GCM + 2x SHA-256:         {floor / mb:8.0f} MB/s")
    print(f"seal (HPKE + Cobblestone + hashes):   {seal_rate / mb:8.0f} MB/s  "
          f"ratio {seal_rate / raw:.2f} (vs raw+hashes {seal_rate / floor:.2f})")
    print(f"open (HPKE + Cobblestone):            {open_rate / mb:8.0f} MB/s  "
          f"ratio {open_rate / raw:.2f}")
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(args.rss_gib)],
                         capture_output=True, text=True, check=True).stdout.strip()
    print(f"peak RSS sealing+opening {args.rss_gib:g} GiB: {float(out):.0f} MiB")
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    pub, dk = keys.x25519.public_key(), os.urandom(32)
    print(f"HPKE seal of a 32-byte key:      {per_second(lambda: suite.encrypt(dk, pub, info=b'i')):8.0f} /s")
    sk = Ed25519PrivateKey.generate()
    sig = sk.sign(b"m" * 200)
    print(f"Ed25519 sign:                    {per_second(lambda: sk.sign(b'm' * 200)):8.0f} /s")
    pk = sk.public_key()
    print(f"Ed25519 verify:                  {per_second(lambda: pk.verify(sig, b'm' * 200)):8.0f} /s")


if __name__ == "__main__":
    main()
