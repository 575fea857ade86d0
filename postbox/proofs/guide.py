"""VERIFY.md: how to check a proof bundle, with the tool or by hand (written into every bundle)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from postbox.proofs.format import stamp

_GUIDE = """\
# How to verify this proof bundle

Issued {created} by the Postbox service whose evidence log is `{origin}`.
Selection: `{selection}`. Log checkpoint: tree size {size}.

This bundle proves that each evidence record in it was signed by the service, that each
`retrieved` record was also signed by the recipient's own key, that every record is in the
service's append-only evidence log at the checkpoint below, and that independent witnesses saw
that checkpoint. It does not contain any document.

## With the tool (offline: no server, no database)

    postbox proofs verify bundle.zip --trust trust.json
    postbox proofs verify bundle.zip --trust trust.json --document letter.pdf --salt <salt>

Use a `trust.json` you obtained independently (from the service's `/api/v1/log/trust`, your
compliance officer, or an earlier bundle you trust), not the copy in this zip. The tool prints
one line per check and exits with 0 only if every check passed; a failing line names the check.

## By hand

1. **Manifest.** `manifest.json` lists every other file with its SHA-256 and size; compare with
   `sha256sum`. `manifest.sig` is a base64 Ed25519 signature over the bytes
   `postbox-proof-manifest-v1` + newline + the bytes of `manifest.json`, by the evidence key
   `key_id` of the manifest, which must be valid at the manifest's `created` time.
2. **Keys.** In `trust.json`, an evidence key's `key_id` is the hex of the first 8 bytes of
   SHA-256 of its 32-byte public key; a key is valid from `valid_from` (inclusive) to
   `valid_until` (exclusive; `null` means still in use).
3. **Evidence.** Each line of `evidences.jsonl` has `body`: the exact UTF-8 bytes that were
   signed (canonical JSON, RFC 8785). Check `signature` (base64 Ed25519) over
   `postbox-evidence-v1` + newline + body with the key named by the body's `key_id`, valid at
   the body's `time`. A `retrieved` record also carries `countersignature` over
   `postbox-retrieval-countersignature-v1` + newline + body, by `recipient_key`.
4. **Log.** The leaf hash of a record is SHA-256(0x00 || body). `inclusion.jsonl` gives, for
   the same line, the RFC 9162 inclusion proof (section 2.1.3.2) of that leaf at `leaf_index`
   in the tree of the checkpoint's size; it must end at the checkpoint's root hash. Interior
   nodes are SHA-256(0x01 || left || right).
5. **Checkpoint.** `checkpoint.txt` is a C2SP signed note (c2sp.org/tlog-checkpoint): origin,
   tree size, base64 root, a blank line, then signature lines. The line named like the origin is
   the log's Ed25519 signature (key in `trust.json` `log_keys`); the others are witness
   cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`), by the keys in `witnesses`. At
   least `cosignatures_required` must verify.
6. **Chains.** Each record's `prev` is the hex SHA-256 of the body of the previous record about
   the same document (`null` for the first). Follow them in log order: no gaps, no forks.
7. **Content.** `commitment` is hex SHA-256(salt || plaintext). The salt is kept encrypted with
   the document; the recipient can show it. `ciphertext_sha256` is the SHA-256 of the sealed
   file as stored.

A minimal inclusion check in Python (standard library only):

```python
import base64, hashlib, json
def node(l, r): return hashlib.sha256(b"\\x01" + l + r).digest()
def included(index, size, leaf, proof, root):
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1: fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root
cp = open("checkpoint.txt").read().split("\\n")
size, root = int(cp[1]), base64.b64decode(cp[2])
for ev, inc in zip(open("evidences.jsonl"), open("inclusion.jsonl")):
    ev, inc = json.loads(ev), json.loads(inc)
    leaf = hashlib.sha256(b"\\x00" + ev["body"].encode()).digest()
    proof = [base64.b64decode(p) for p in inc["proof"]]
    print(ev["leaf_index"], included(ev["leaf_index"], size, leaf, proof, root))
```

## Files

| file | what |
| --- | --- |
| `manifest.json`, `manifest.sig` | what is in the bundle, signed |
| `evidences.jsonl` | the evidence records and their signatures, in log order |
| `inclusion.jsonl` | an inclusion proof of each record into the one checkpoint |
| `checkpoint.txt` | the checkpoint with the witnesses' cosignatures |
| `trust.json` | every key: log, evidence keys with validity periods, witnesses |
| `parties.json` | the organisations and recipients named by the records |
| `salts.json` | (only when the recipient added it) commitment salts per document |
"""


def verify_md(origin: str, selection: dict[str, Any], size: int, created: datetime) -> str:
    return _GUIDE.format(origin=origin, selection=json.dumps(selection, sort_keys=True),
                         size=size, created=stamp(created))
