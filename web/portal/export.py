""""Export my postbox": a fresh PIN + authenticator code, then the whole postbox as one zip.

The form posts the two factors and the answer to that same POST is the download, so nothing
that grants an export outlives the request (no token to steal or replay). The zip is streamed
as it is made (chunked, no Content-Length): if a document fails its check midway, the response
is cut without its end and the browser reports a broken download, never a clean one.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from flask import Response, render_template
from flask_login import login_required

from postbox import portability
from postbox.errors import PostboxError
from web.errors import describe, new_reference
from web.portal import bp
from web.portal.forms import correctable, field
from web.portal.mail import content_disposition
from web.sessions import postbox, vault

log = logging.getLogger("postbox.web")


def _page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("portal/export.html", error=error), status


@bp.get("/settings/export")
@login_required
def settings_export() -> tuple[str, int]:
    return _page()


def _guarded(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass the zip on; a failure midway is logged with a reference and cuts the response."""
    try:
        yield from chunks
    except Exception:
        log.error("ref=%s a postbox export failed while streaming; response aborted",
                  new_reference())
        raise


@bp.post("/settings/export")
@login_required
def settings_export_download() -> Response | tuple[str, int]:
    try:
        stream = portability.start_export(postbox(), vault(), field("pin"), field("otp"))
    except PostboxError as exc:
        if not correctable(exc):
            raise
        status, text = describe(exc)
        return _page(text, status)
    response = Response(_guarded(stream), mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition("attachment", stream.filename)
    response.headers["Cache-Control"] = "no-store"
    return response
