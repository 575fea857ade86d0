"""Generate the envelope vectors once (python tests/vectors/envelope/generate.py).

The checked-in JSON is the reference; regenerate only on a deliberate format change.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

from crypto.envelope import DocumentAddress, seal_document
from crypto.kdf import Argon2Params, derive_kek
from crypto.keys import RecipientKeyPair, wrap_private_keys

HERE = Path(__file__).parent


def main() -> None:
    keys = RecipientKeyPair.generate()
    vectors = []
    for name, plain in [("empty", b""), ("short", b"Dear customer, your invoice."),
                        ("three-chunks", bytes(i % 251 for i in range(3 * 16384 + 123)))]:
        addr = DocumentAddress(f"{len(vectors) + 1:032x}", "0123456789abcdef0123456789abcdef", 1)
        meta = {"subject": f"vector {name}", "filename": f"{name}.pdf",
                "content_type": "application/pdf"}
        reader = seal_document(io.BytesIO(plain), addr, keys.public().x25519, meta)
        blob = reader.read()
        res = reader.result()
        vectors.append({
            "name": name, "document_id": addr.document_id, "recipient_id": addr.recipient_id,
            "key_version": addr.key_version, "plaintext": plain.hex(), "blob": blob.hex(),
            "sealed_meta": res.sealed_meta.hex(), "metadata": meta,
            "plaintext_commitment": res.plaintext_commitment,
        })
    params = Argon2Params(memory_kib=256, iterations=2, lanes=1)
    salt, pepper, rid = bytes(range(16)), bytes(range(100, 132)), "0123456789abcdef0123456789abcdef"
    kek = derive_kek("739182", salt=salt, pepper=pepper, subject_id=bytes.fromhex(rid),
                     purpose="pin", params=params)
    wrapped = wrap_private_keys(keys, kek, purpose="pin", recipient_id=rid, key_version=1)
    out = {
        "recipient_private": {"x25519": keys.to_bytes()[:32].hex(),
                              "ed25519_seed": keys.to_bytes()[32:].hex()},
        "documents": vectors,
        "pin_wrap": {"pin": "739182", "salt": salt.hex(), "pepper": pepper.hex(),
                     "recipient_id": rid, "key_version": 1, "purpose": "pin",
                     "argon2": {"t": params.iterations, "m_kib": params.memory_kib,
                                "p": params.lanes},
                     "wrapped": wrapped.hex()},
    }
    (HERE / "v1.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
