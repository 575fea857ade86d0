"""Rate limits on the doors people guess at: login and activation (per client address).

Account lockout (in the database) stops guessing one account's PIN; these limits stop one
client from walking through many accounts or letter codes. Storage is in memory by default,
shared across nodes with ``POSTBOX_RATELIMIT_URL=redis://...``. The limiter is made per app
(not at import), so two apps in one process never share counters.
"""
from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

LOGIN_ENDPOINTS = ("portal.login",)
ACTIVATION_ENDPOINTS = ("portal.activate", "portal.activate_pin", "portal.activate_authenticator")


def init_app(app: Flask) -> Limiter:
    """Wrap the login and activation views; call after the portal blueprint is registered."""
    limiter = Limiter(get_remote_address, app=app,
                      storage_uri=app.config["RATELIMIT_STORAGE_URI"], default_limits=[])
    login = limiter.shared_limit(app.config["PORTAL_LOGIN_LIMIT"], scope="login",
                                 methods=["POST"])
    activation = limiter.shared_limit(app.config["PORTAL_ACTIVATION_LIMIT"], scope="activation",
                                      methods=["POST"])
    for endpoints, limit in ((LOGIN_ENDPOINTS, login), (ACTIVATION_ENDPOINTS, activation)):
        for endpoint in endpoints:
            app.view_functions[endpoint] = limit(app.view_functions[endpoint])  # type: ignore[assignment]
    return limiter
