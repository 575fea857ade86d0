"""The gunicorn entry point of the load bench: the app of the instance named by POSTBOX_*.

Every bench client connects from 127.0.0.1, so the per-address login limit (10 a minute)
would throttle 50 recipients as if they were one person. ``BENCH_LOGIN_LIMIT`` sets it per
scenario: raised where many people are played, the production value where one client is
the attacker.
"""
from __future__ import annotations

import os

from flask import Flask


def wsgi_app() -> Flask:
    from postbox.bootstrap import build
    from postbox.config import load_settings
    from web import create_app

    limit = os.environ.get("BENCH_LOGIN_LIMIT") or "1000000 per minute"
    return create_app(build(load_settings()), {
        "PORTAL_LOGIN_LIMIT": limit, "API_RATE_LIMIT": "1000000 per minute"})
