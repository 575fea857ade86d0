"""The sender API under /api/v1: bearer tokens, JSON, RFC 9457 problems, OpenAPI 3.1.

Wiring (``web.create_app`` calls it once the portal's error handlers are registered)::

    from web.api import register_api
    register_api(app, pb)

It registers the ``api`` blueprint, exempts it from CSRF (bearer tokens, no cookies), answers
problem details for every path under /api/ (whatever blueprint, or none, matched), and keeps
per-app state (rate limiter) in ``app.extensions["postbox.api"]``.

OpenAPI from fragments. ``/api/v1/openapi.json`` is assembled when asked, from every
blueprint registered on the app that carries an ``openapi_paths`` attribute: a dict from path
(relative to the server URL ``/api/v1``, e.g. ``"/batches/{batch_id}"``) to an OpenAPI 3.1
path-item object; an optional ``openapi_schemas`` dict adds to ``components.schemas`` (names
must not clash; shared ones such as ``Problem`` are defined here). So another feature adds its
endpoints by giving its blueprint (mounted under /api/v1) both attributes; nothing here needs
to change. ``tests/api/test_openapi.py`` checks that every Flask rule under /api/v1 is
documented with exactly its methods, and every documented path exists. Other API blueprints
can reuse :func:`web.api.access.roles` (token, role and rate limit checks, via
``bp.before_request(web.api.access.check_request)``) and should be exempted from CSRF with
:func:`mount`.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from werkzeug.routing import BaseConverter

from postbox.bootstrap import Postbox
from web.api import access, problems

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(access.check_request)

DEFAULTS: dict[str, Any] = {
    "API_RATE_LIMIT": "100 per second;3000 per minute",
    "API_AUTH_FAILURE_LIMIT": "30 per minute",
    "API_MAX_JSON_BYTES": 1 << 20,
    "API_MAX_ITEMS_PER_REQUEST": 1000,
    "API_SETTLE_PER_REQUEST": 1000,
}


class HexId(BaseConverter):
    """Our row ids (32 lowercase hex): anything else is a 404 before a query is made."""

    regex = "[0-9a-f]{32}"


def _limits(pb: Postbox) -> dict[str, int]:
    upload = pb.settings.max_document_bytes + (1 << 20)  # one document plus the form around it
    return {"API_MAX_UPLOAD_BYTES": upload, "API_MAX_BATCH_REQUEST_BYTES": max(upload, 256 << 20)}


def mount(app: Flask, blueprint: Blueprint) -> None:
    """Register another /api/v1 blueprint: bearer tokens, so no CSRF."""
    from web.security import csrf

    app.register_blueprint(blueprint)
    csrf.exempt(blueprint)


def register_api(app: Flask, pb: Postbox | None = None) -> None:
    """Add the sender API to ``app`` (built by ``web.create_app``)."""
    pb = pb or app.extensions["postbox"]
    for key, value in {**DEFAULTS, **_limits(pb)}.items():
        app.config.setdefault(key, value)
    app.config.setdefault("RATELIMIT_STORAGE_URI", pb.settings.ratelimit_url)
    app.url_map.converters.setdefault("hexid", HexId)
    access.init_app(app, pb)
    mount(app, bp)
    problems.install(app)


def _openapi_fragment() -> None:
    from web.api import spec

    bp.openapi_paths = spec.PATHS  # type: ignore[attr-defined]
    bp.openapi_schemas = spec.SCHEMAS  # type: ignore[attr-defined]


# The routes attach themselves to ``bp``.
from web.api import batches, cases, documents, openapi, recipients, tokens  # noqa: F401

_openapi_fragment()
