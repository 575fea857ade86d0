"""Response hardening for every page: CSP, HSTS, no-sniff, no referrer, no caching, CSRF.

Pages carry no inline script or style, so the policy can be strict. Routes that need another
policy (the sandboxed document content) set their own header, which is then left alone.
"""
from __future__ import annotations

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# The document itself: shown only inside our own message page, never able to run anything.
CONTENT_CSP = "sandbox; default-src 'none'; frame-ancestors 'self'"
HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

csrf = CSRFProtect()


def _harden(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = CSP
        response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "static":
        # Every page may show something personal, and Back after logout must show nothing.
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
        response.vary.add("Cookie")
    return response


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.after_request(_harden)
