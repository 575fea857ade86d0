"""The print queue in the console: letters a print step handed to the sender, the print-ready
PDF (cover page + the sender's own copy, checked against the delivery), printed and dismissed.

Senders and admins only (area ``send``, as the batch print flow): every action here puts a
letter on paper or gives up on paper, in the organisation's name. The service keeps no
plaintext, so the PDF is built from the copy uploaded with the request and nothing is stored.
Errors come back as a message on the page they came from, never as a bare error page.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, cast

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from postbox import print_queue
from postbox.errors import PostboxError
from web.org import area, bp, me, postbox
from web.org.errors import describe
from web.portal.forms import field
from web.portal.mail import content_disposition

UPLOAD_SLACK = 64 << 10  # the form fields around the file
ENTRY_ID_LEN = 32

# The service's own wording, for staff and translatable (falls back to web/org/errors.py).
MESSAGES: dict[str, LazyString] = {
    "this is not the document that was delivered (check the file, its subject and file name "
    "as sent)": _l("This copy does not match the letter that was delivered. Choose the same PDF "
                   "and enter the subject and file name exactly as they were sent. Nothing was "
                   "changed."),
    "no fingerprint was kept for this document (it was sent without an Idempotency-Key), so "
    "its copy cannot be checked: print it from your archive with your own cover": _l(
        "This letter was sent without an Idempotency-Key, so Postbox cannot check a copy of "
        "it. Print it from your archive with your own cover page, then mark it printed."),
    "this entry was dismissed": _l("This letter was already dismissed from the print queue."),
    "this entry is printed": _l("This letter was already marked printed."),
    "this entry is dismissed": _l("This letter was already dismissed from the print queue."),
    "no such print queue entry": _l("This letter is not in your print queue (any more)."),
    "the document could not be read as a PDF (is it encrypted?)": _l(
        "The file could not be read as a PDF. Is it encrypted or damaged?"),
    "reason must be 1-200 characters": _l("Give a reason of at most 200 characters."),
    "reason contains control or invisible characters": _l(
        "The reason contains control or invisible characters."),
    "subject must be 1-200 characters": _l(
        "Enter the subject as it was sent (at most 200 characters)."),
    "file name must be 1-200 characters": _l(
        "Enter the file name as it was sent (at most 200 characters)."),
}


def _text(exc: PostboxError) -> tuple[int, str]:
    status, text = describe(exc)
    precise = MESSAGES.get(str(exc))
    return status, str(precise) if precise is not None else text


def _entry_id(value: str) -> str:
    """An entry id from a form or query, or 404 (ids are 32 hex characters)."""
    if len(value) != ENTRY_ID_LEN or any(c not in "0123456789abcdef" for c in value):
        abort(404)
    return value


def _queue(error: str | None = None, status: int = 200,
           failed: str | None = None) -> tuple[str, int]:
    entries = print_queue.list_entries(postbox(), me().org_id)
    return render_template("org/print_queue.html", entries=entries, error=error,
                           failed=failed), status


@bp.get("/print-queue")
@area("send")
def print_list() -> tuple[str, int]:
    return _queue()


@bp.post("/print-queue/pdf")
@area("send")
def print_download() -> Response | tuple[str, int]:
    """Cover page + the uploaded copy as one PDF, after the copy matched the delivery."""
    limit = postbox().settings.max_document_bytes + UPLOAD_SLACK
    if (request.content_length or 0) > limit:
        return _queue(str(_l("The file is larger than Postbox accepts for a letter.")), 413)
    entry_id = _entry_id(field("entry"))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _queue(str(_l("Choose the PDF of the letter as it was sent.")), 400, entry_id)
    name = field("filename").strip() or upload.filename
    try:
        pdf = print_queue.print_pdf(postbox(), me().org_id, entry_id,
                                    cast(BinaryIO, upload.stream), field("subject"), name,
                                    field("postal_address") or None)
    except PostboxError as exc:
        status, text = _text(exc)
        return _queue(text, status, entry_id)

    def chunks() -> Iterator[bytes]:
        try:
            while piece := pdf.read(1 << 16):
                yield piece
        finally:
            pdf.close()

    response = Response(chunks(), mimetype="application/pdf")
    response.headers["Content-Disposition"] = content_disposition(
        "attachment", f"print-{entry_id}.pdf")
    response.headers["Cache-Control"] = "no-store"  # a letter: never in a shared cache
    return response


@bp.post("/print-queue/printed")
@area("send")
def print_done() -> Response | tuple[str, int]:
    entry_id = _entry_id(field("entry"))
    try:
        entry = print_queue.mark_printed(postbox(), me().org_id, entry_id, me().email)
    except PostboxError as exc:
        status, text = _text(exc)
        return _queue(text, status, entry_id)
    flash(_l("The letter to %(who)s is marked printed.", who=entry.recipient or "?"), "info")
    return redirect(url_for(".print_list"))


def _confirm(entry: print_queue.PrintEntry, error: str | None = None,
             status: int = 200) -> tuple[str, int]:
    return render_template("org/print_dismiss.html", entry=entry, error=error,
                           reason=field("reason")), status


@bp.get("/print-queue/dismiss")
@area("send")
def print_dismiss_confirm() -> tuple[str, int]:
    entry_id = _entry_id(request.args.get("entry", "")[:ENTRY_ID_LEN + 1])
    try:
        entry = print_queue.get_entry(postbox(), me().org_id, entry_id)
    except PostboxError as exc:
        status, text = _text(exc)
        return _queue(text, status)
    return _confirm(entry)


@bp.post("/print-queue/dismiss")
@area("send")
def print_dismiss() -> Response | tuple[str, int]:
    entry_id = _entry_id(field("entry"))
    if request.form.get("confirm") != "yes":
        abort(400)
    try:
        entry = print_queue.dismiss(postbox(), me().org_id, entry_id, me().email,
                                    field("reason"))
    except PostboxError as exc:
        status, text = _text(exc)
        try:
            current = print_queue.get_entry(postbox(), me().org_id, entry_id)
        except PostboxError:
            return _queue(text, status)
        if current.state != "queued":
            return _queue(text, status)
        return _confirm(current, text, status)
    flash(_l("The letter to %(who)s was taken off the print queue. It is recorded that it "
             "reached the recipient on no channel.", who=entry.recipient or "?"), "info")
    return redirect(url_for(".print_list"))
