"""Flask app factory: the recipient portal now, room for the sender API (/api/v1) and the
organisation console (/org) as further blueprints.

The app holds no business rules: each route parses the request, calls one postbox service and
renders the result. The Postbox itself comes from the one composition root
(``postbox.bootstrap.build``), or from the caller (tests, ``postbox serve``).
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from postbox.bootstrap import Postbox, build
from postbox.config import load_settings
from web import errors, i18n, observability, ratelimits, security, sessions

log = logging.getLogger("postbox.web")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _defaults(pb: Postbox) -> dict[str, Any]:
    """Settings derived from the Postbox: every node derives the same secret from the master
    key, so sessions survive a restart or a hop between nodes and no secret lives in the repo."""
    url = urlsplit(pb.settings.public_url)
    https = url.scheme == "https"
    # Browsers treat loopback as a secure context and keep Secure cookies even over http;
    # any other plain-http host would drop them, so only there do we fall back.
    secure = https or (url.hostname or "") in LOOPBACK_HOSTS
    return {
        "SECRET_KEY": pb.keys.seal_key("flask-session"),
        "SESSION_COOKIE_NAME": "__Host-postbox" if secure else "postbox",
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        # Referrer-Policy: no-referrer means browsers send no Referer, which Flask-WTF's strict
        # https check would refuse; the token plus SameSite=Strict already stop cross-site posts.
        "WTF_CSRF_SSL_STRICT": False,
        "PREFERRED_URL_SCHEME": url.scheme or "http",
        "RATELIMIT_STORAGE_URI": pb.settings.ratelimit_url,
        "PORTAL_LOGIN_LIMIT": "10 per minute;100 per hour",
        "PORTAL_ACTIVATION_LIMIT": "10 per minute;100 per hour",
        "PORTAL_PER_PAGE": 25,
        "BABEL_DEFAULT_LOCALE": i18n.DEFAULT,
        "BABEL_DEFAULT_TIMEZONE": "UTC",
    }


def create_app(pb: Postbox | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app around ``pb`` (built from ``POSTBOX_*`` settings when omitted)."""
    if pb is None:
        pb = build(load_settings())
    app = Flask(__name__)
    app.config.from_mapping(_defaults(pb))
    if test_config:
        app.config.update(test_config)
    app.extensions["postbox"] = pb

    security.init_app(app)
    i18n.init_app(app)
    sessions.init_app(app)
    errors.init_app(app)
    observability.init_app(app, log_format=app.config.get("POSTBOX_LOG_FORMAT", "text"))
    from web import overload; overload.init_app(app, pb.settings.max_inflight, pb.settings.argon2_max_concurrency)  # noqa: E702,E501

    from web.portal import bp as portal

    app.register_blueprint(portal)
    from web.org import bp as org_bp; app.register_blueprint(org_bp)  # noqa: E702
    # The APIs under /api/v1 authenticate with bearer tokens, not cookies: they exempt
    # themselves from CSRF and answer errors as problem+json (web/api/problems.py).
    ratelimits.init_app(app)
    from web.api import register_api
    from web.api_log import register_log_api
    from web.api_webhooks import register_webhooks_api

    register_api(app, pb)  # first: the webhooks API shares its per-token rate limit
    register_webhooks_api(app, pb)
    register_log_api(app, pb)
    from web.api_delegation import register_delegation_api; register_delegation_api(app, pb)  # noqa: E702,E501
    from web.api_policies import register_policies_api; register_policies_api(app, pb)  # noqa: E702

    if pb.settings.public_url.startswith("http://"):
        log.warning(
            "serving over plain http (%s): fine on this machine, but put TLS in front "
            "(POSTBOX_PUBLIC_URL=https://...) before anyone else connects; the session "
            "cookie is %s", pb.settings.public_url,
            "Secure (loopback only)" if app.config["SESSION_COOKIE_SECURE"]
            else "NOT Secure (plain http on a non-loopback host)")
    return app
