"""The recipient portal: activation, login, the postbox itself, history and settings."""
from __future__ import annotations

from flask import Blueprint

from postbox.reading import RESTORE_DAYS

bp = Blueprint("portal", __name__)


@bp.app_context_processor
def _globals() -> dict[str, int]:
    return {"restore_days": RESTORE_DAYS}


from web.portal import access, mail, profile, replying  # noqa: F401  (routes register on import)
from web.portal import delegation  # noqa: F401,E402  (power of attorney)
from web.portal import export  # noqa: F401,E402  (routes register on import)
