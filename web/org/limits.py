"""Rate limits on the console's doors: staff login and joining (per client address).

The database lockout stops guessing one account's password; these limits stop one client from
walking through many accounts or invitation codes. Same storage as the portal's limits
(memory, or ``POSTBOX_RATELIMIT_URL``), own counters (scope ``org-login``).
"""
from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

DOORS = ("org.login", "org.join")
DEFAULT = "10 per minute;100 per hour"


def init_app(app: Flask) -> Limiter:
    limiter = Limiter(get_remote_address, app=app,
                      storage_uri=app.config["RATELIMIT_STORAGE_URI"], default_limits=[])
    limit = limiter.shared_limit(app.config.get("ORG_LOGIN_LIMIT", DEFAULT), scope="org-login",
                                 methods=["POST"])
    for endpoint in DOORS:
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])  # type: ignore[assignment]
    return limiter
