"""Fixed-length identifiers used inside binary formats: 32 lowercase hex chars <-> 16 bytes."""
from __future__ import annotations

import re

from crypto.errors import KeyFormatError

_HEX32 = re.compile(r"[0-9a-f]{32}")


def id_bytes(value: str) -> bytes:
    """The 16 bytes of an id such as a document or recipient id (uuid4 hex)."""
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise KeyFormatError("ids are 32 lowercase hex characters")
    return bytes.fromhex(value)
