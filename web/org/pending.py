"""Services the console needs that other parts of Postbox have not delivered yet.

Each is named by the module and function the console will call once it exists; until then the
page says so plainly (503 for downloads, a note on the page) and a strict-xfail test waits for
it. Nothing here imitates a working feature. Replace a lookup by a plain import when its
service lands (the xfail test then fails as XPASS and must be un-marked).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# (module under postbox/, function) -> what the console does with it
WANTED = {
    ("webhooks", "recent_deliveries"): "list an endpoint's recent delivery attempts",
}


def provided(module: str, name: str) -> Callable[..., Any] | None:
    """``postbox.<module>.<name>`` if it exists, else None."""
    try:
        found = getattr(importlib.import_module(f"postbox.{module}"), name, None)
    except ImportError:
        return None
    return found if callable(found) else None
