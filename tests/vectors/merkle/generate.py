"""Generate reference.json once (PYTHONPATH=. python tests/vectors/merkle/generate.py).

The values come from the naive RFC 9162 section 2.1 reference in tests/unit/crypto/test_merkle.py,
not from crypto.merkle. The checked-in JSON is the reference; the test fails if they drift apart.
rfc6962.json is not generated: it is copied from the published Certificate Transparency vectors.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.unit.crypto.test_merkle import reference_vectors


def main() -> None:
    leaves = [f"postbox evidence {i}".encode() for i in range(17)]
    out = Path(__file__).parent / "reference.json"
    out.write_text(json.dumps(reference_vectors(leaves), indent=1) + "\n")


if __name__ == "__main__":
    main()
