"""Generate postbox.json once (PYTHONPATH=. python tests/vectors/note/generate.py).

Keys come from fixed seeds and Ed25519 is deterministic, so the output only changes when the
format does; the test fails if crypto.note drifts from the checked-in file. go_note.json is not
generated: it is copied from Go's golang.org/x/mod/sumdb/note.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.unit.crypto.test_note import note_vectors


def main() -> None:
    out = Path(__file__).parent / "postbox.json"
    out.write_text(json.dumps(note_vectors(), indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
