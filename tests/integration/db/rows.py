"""Minimal valid rows for database tests; keyword arguments override any column."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from postbox.models import Document, Organisation, Outbox, Recipient, RecipientLink, new_id

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def org(**kw: Any) -> Organisation:
    slug = kw.pop("slug", f"org-{new_id()[:8]}")
    return Organisation(slug=slug, name=kw.pop("name", slug.title()), **kw)


def recipient(**kw: Any) -> Recipient:
    values: dict[str, Any] = {
        "email": f"{new_id()[:8]}@example.org",
        "state": "invited",
        "x25519_public": b"\x01" * 32,
        "ed25519_public": b"\x02" * 32,
    }
    values.update(kw)
    return Recipient(**values)


def link(organisation: Organisation, person: Recipient, external_id: str) -> RecipientLink:
    return RecipientLink(org_id=organisation.id, recipient_id=person.id, external_id=external_id)


def document(organisation: Organisation, person: Recipient, **kw: Any) -> Document:
    blob_key = kw.pop("blob_key", f"docs/{new_id()}")
    values: dict[str, Any] = {
        "org_id": organisation.id,
        "recipient_id": person.id,
        "key_version": 1,
        "blob_key": blob_key,
        "sealed_key": b"k" * 80,
        "sealed_meta": b"m" * 40,
        "ciphertext_sha256": hashlib.sha256(blob_key.encode()).hexdigest(),
        "ciphertext_size": 1056,
        "plaintext_size": 1000,
        "content_type": "application/pdf",
        "status": "consigned",
    }
    values.update(kw)
    return Document(**values)


def job(**kw: Any) -> Outbox:
    values: dict[str, Any] = {"kind": "notice", "payload": "{}", "run_after": T0}
    values.update(kw)
    return Outbox(**values)
