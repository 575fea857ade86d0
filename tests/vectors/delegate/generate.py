"""Generate the delegate-stanza vector once (python tests/vectors/delegate/generate.py).

The checked-in JSON is the reference (docs/format.md §8); regenerate only on a deliberate
format change.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from crypto.delegate import DelegateAddress, seal_document_with_delegates
from crypto.envelope import DocumentAddress
from crypto.keys import RecipientKeyPair

HERE = Path(__file__).parent


def main() -> None:
    owner_keys, delegate_keys = RecipientKeyPair.generate(), RecipientKeyPair.generate()
    owner = DocumentAddress("0" * 31 + "1", "0123456789abcdef0123456789abcdef", 1)
    delegate = DelegateAddress(owner.document_id, "fedcba9876543210fedcba9876543210",
                               "00112233445566778899aabbccddeeff", 3)
    plain = "Dear customer, your power of attorney works."
    reader, (stanza,) = seal_document_with_delegates(
        io.BytesIO(plain.encode()), owner, owner_keys.public().x25519, {"subject": "vector"},
        [(delegate, delegate_keys.public().x25519)])
    blob = reader.read()
    b64 = lambda raw: base64.b64encode(raw).decode()
    raw = delegate_keys.x25519.private_bytes_raw()
    out = {"document_id": owner.document_id, "owner_id": owner.recipient_id,
           "owner_key_version": owner.key_version, "delegate_id": delegate.delegate_id,
           "grant_id": delegate.grant_id, "delegate_key_version": delegate.key_version,
           "info_hex": delegate.hpke_info().hex(), "delegate_x25519_private": b64(raw),
           "delegate_stanza": b64(stanza), "blob": b64(blob), "plaintext": plain}
    (HERE / "delegate-1.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
