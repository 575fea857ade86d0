"""Concurrent PIN derivations with the production lane count finish.

pyca/cryptography 50's Argon2id with lanes > 1 (OpenSSL's threaded implementation) hangs when
two derivations run at once in one process; a login storm on several threads would stall the
server for good. derive_kek serialises multi-lane runs. The check runs in a subprocess with a
timeout, so a regression fails this test instead of hanging the suite.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = textwrap.dedent("""
    import threading
    from crypto.kdf import Argon2Params, derive_kek
    params = Argon2Params(memory_kib=8 * 1024, iterations=1, lanes={lanes})
    results = []
    def derive(i):
        results.append(derive_kek(str(123456 + i), salt=bytes(16), pepper=bytes(32),
                                  subject_id=bytes(16), purpose="pin", params=params))
    threads = [threading.Thread(target=derive, args=(i % 2,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 2
    print("ok")
""")


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_four_threads_deriving_at_once_all_finish(lanes: int) -> None:
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT.format(lanes=lanes)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"concurrent Argon2id derivations with lanes={lanes} hung")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
