"""Who may call, how often, and how much they may send: checked before any body is read.

- Bearer tokens (``Authorization: Bearer pbx_...``) name one organisation and one role; a view
  lists the roles it admits with :func:`roles` (views without the mark are public).
- Per-token rate limits (``API_RATE_LIMIT``, moving window, shared across nodes through
  ``POSTBOX_RATELIMIT_URL``) answer 429 with ``Retry-After``; failed authentications are limited
  per client address (``API_AUTH_FAILURE_LIMIT``), so tokens cannot be guessed at speed.
- Body size: a declared ``Content-Length`` over the view's limit (:func:`body_limit`, default
  ``API_MAX_JSON_BYTES``) is refused before a byte is read; a chunked body is cut off at the
  same limit while it is read.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from postbox import api_tokens
from postbox.bootstrap import Postbox
from postbox.orgs import TokenIdentity
from web.api.problems import ApiProblem

F = TypeVar("F", bound=Callable[..., Any])
ROLES_ATTR = "api_roles"
BODY_ATTR = "api_body_limit"
EXTENSION = "postbox.api"
NAMESPACE = "postbox-api"


@dataclass
class ApiState:
    pb: Postbox
    limiter: MovingWindowRateLimiter
    per_token: list[RateLimitItem]
    auth_failures: list[RateLimitItem]


def roles(*names: str) -> Callable[[F], F]:
    """Admit bearer tokens of these roles only."""
    def mark(view: F) -> F:
        setattr(view, ROLES_ATTR, frozenset(names))
        return view
    return mark


def body_limit(config_key: str) -> Callable[[F], F]:
    """Take the view's body size limit from this config key."""
    def mark(view: F) -> F:
        setattr(view, BODY_ATTR, config_key)
        return view
    return mark


def init_app(app: Flask, pb: Postbox) -> ApiState:
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    state = ApiState(pb, MovingWindowRateLimiter(storage), parse_many(app.config["API_RATE_LIMIT"]),
                     parse_many(app.config["API_AUTH_FAILURE_LIMIT"]))
    app.extensions[EXTENSION] = state
    return state


def state() -> ApiState:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def postbox() -> Postbox:
    return state().pb


def identity() -> TokenIdentity:
    """The caller of a view marked with :func:`roles`."""
    return g.api_identity  # type: ignore[no-any-return]


def check_request() -> None:
    """The blueprint's ``before_request``: token, role, rate, body size (in that order)."""
    view = current_app.view_functions.get(request.endpoint or "")
    allowed = getattr(view, ROLES_ATTR, None)
    if allowed is not None:
        caller = _authenticate()
        if caller.role not in allowed:
            raise ApiProblem("forbidden", f"a {caller.role} token may not do this; it needs "
                             f"one of: {', '.join(sorted(allowed))}")
        _limit(state().per_token, caller.token_id)
        g.api_identity = caller
    limit = int(current_app.config[getattr(view, BODY_ATTR, "API_MAX_JSON_BYTES")])
    if request.content_length is not None and request.content_length > limit:
        raise ApiProblem("request-too-large", f"the request body is larger than {limit} bytes",
                         max_bytes=limit)
    request.max_content_length = limit


def authenticate(roles: Collection[str], doing: str) -> TokenIdentity:
    """For the API's smaller blueprints (webhooks, policies, delegation): the same token check,
    failed-authentication limit, role check and per-token budget as every /api/v1 view."""
    caller = _authenticate()
    if caller.role not in roles:
        raise ApiProblem("forbidden", f"a {caller.role} token may not {doing}")
    _limit(state().per_token, caller.token_id)
    return caller


def _authenticate() -> TokenIdentity:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    address = request.remote_addr or "unknown"
    st = state()
    for item in st.auth_failures:  # an address that keeps failing waits, even with a good token
        if not st.limiter.test(item, NAMESPACE, "auth-failures", address):
            raise _too_many(item, "auth-failures", address)
    caller = api_tokens.authenticate(st.pb, token.strip()) \
        if scheme.lower() == "bearer" and token.strip() else None
    if caller is None:
        for item in st.auth_failures:
            st.limiter.hit(item, NAMESPACE, "auth-failures", address)
        raise ApiProblem("unauthorized", "send a valid token: Authorization: Bearer pbx_...",
                         {"WWW-Authenticate": 'Bearer realm="postbox"'})
    return caller


def _limit(items: list[RateLimitItem], token_id: str) -> None:
    st = state()
    for item in items:
        if not st.limiter.hit(item, NAMESPACE, "token", token_id):
            raise _too_many(item, "token", token_id)


def _too_many(item: RateLimitItem, *identifiers: str) -> ApiProblem:
    reset = state().limiter.get_window_stats(item, NAMESPACE, *identifiers).reset_time
    wait = max(1, math.ceil(reset - time.time()))
    return ApiProblem("rate-limited", f"rate limit {item} exceeded; retry in {wait} s",
                      {"Retry-After": str(wait)}, retry_after=wait)
