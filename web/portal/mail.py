"""The postbox itself: folders, one message, its content, and archive / delete / restore."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import quote

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from werkzeug.wrappers import Response as Redirect

from postbox import account, reading
from web.errors import new_reference
from web.portal import bp
from web.security import CONTENT_CSP
from web.sessions import postbox, vault

log = logging.getLogger("postbox.web")
FOLDERS: dict[str, str] = {"inbox": "inbox", "archive": "archive", "deleted": "deleted"}
MAX_PAGE = 1_000_000
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()+-]")


@bp.get("/")
def home() -> Redirect:
    return redirect(url_for(".inbox"))


def _folder(folder: reading.Folder) -> str:
    query = request.args.get("q", "").strip()[:200]
    # Bounded: a huge page number would overflow the database's integer offset (a 500).
    page = min(max(1, request.args.get("page", 1, type=int) or 1), MAX_PAGE)
    box = account.mailbox(postbox(), vault(), folder, query or None, page,
                          current_app.config["PORTAL_PER_PAGE"])
    return render_template("portal/folder.html", folder=folder, query=query,
                           listing=box.listing, phrase=box.phrase, notice_code=box.notice_code,
                           restore_days=reading.RESTORE_DAYS)


@bp.get("/inbox")
@login_required
def inbox() -> str:
    return _folder("inbox")


@bp.get("/archive")
@login_required
def archive() -> str:
    return _folder("archive")


@bp.get("/deleted")
@login_required
def deleted() -> str:
    return _folder("deleted")


@bp.get("/messages/<document_id>")
@login_required
def message(document_id: str) -> str:
    msg = reading.message(postbox(), vault(), document_id)
    return render_template("portal/message.html", message=msg,
                           restore_days=reading.RESTORE_DAYS)


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback name plus the exact UTF-8 name in ``filename*``."""
    fallback = _UNSAFE_NAME.sub("_", filename).strip() or "document.pdf"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _guarded(chunks: Iterator[bytes], document_id: str) -> Iterator[bytes]:
    """Pass the plaintext on; if its check fails at the end, abort the response loudly.

    No Content-Length is sent, so the response is chunked and the raised error leaves it
    without its closing chunk: the browser sees a broken download, never a clean one.
    """
    try:
        yield from chunks
    except reading.DocumentUnreadable:
        log.error("ref=%s document %s failed its integrity check while streaming; response "
                  "aborted", new_reference(), document_id)
        raise


@bp.get("/messages/<document_id>/content")
@login_required
def content(document_id: str) -> Response:
    if request.method == "HEAD":  # headers only: no decryption, no retrieval evidence
        msg = reading.message(postbox(), vault(), document_id)
        chunks: Iterator[bytes] = iter(())
    else:
        opened = reading.open_message(postbox(), vault(), document_id)
        msg, chunks = opened.message, _guarded(opened.chunks, document_id)
    download = request.args.get("download") == "1"
    response = Response(chunks, mimetype=msg.content_type)
    response.headers["Content-Disposition"] = content_disposition(
        "attachment" if download else "inline", msg.filename)
    response.headers["Content-Security-Policy"] = CONTENT_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/messages/<document_id>/archive")
@login_required
def archive_message(document_id: str) -> Redirect:
    reading.archive(postbox(), vault(), document_id)
    flash(_l("The message was moved to the archive."), "info")
    return redirect(url_for(".inbox"))


@bp.post("/messages/<document_id>/unarchive")
@login_required
def unarchive_message(document_id: str) -> Redirect:
    reading.unarchive(postbox(), vault(), document_id)
    flash(_l("The message was moved back to the inbox."), "info")
    return redirect(url_for(".message", document_id=document_id))


@bp.post("/messages/<document_id>/delete")
@login_required
def delete_message(document_id: str) -> Redirect:
    reading.delete(postbox(), vault(), document_id)
    flash(document_id, "undo")
    return redirect(url_for(".inbox"))


@bp.post("/messages/<document_id>/restore")
@login_required
def restore_message(document_id: str) -> Redirect:
    reading.restore(postbox(), vault(), document_id)
    flash(_l("The message was restored."), "info")
    return redirect(url_for(".message", document_id=document_id))
