"""Replying to a message (or disputing it), and the case a message belongs to."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from werkzeug.wrappers import Response as Redirect

from postbox import delegation_reading, reading, replies
from postbox.errors import PostboxError
from postbox.reading import Message
from web.errors import describe
from web.portal import bp
from web.portal.forms import correctable
from web.sessions import postbox, vault

MAX_REPLY_FORM_BYTES = replies.MAX_ATTACHMENTS * replies.MAX_ATTACHMENT_BYTES + 64 * 1024


def _reply_page(msg: Message, document_id: str, done_url: str, cancel_url: str,
                owner_id: str | None = None) -> str | tuple[str, int] | Redirect:
    """The reply form and its handling, for one's own post or (``owner_id``) as a delegate."""
    error: str | None = None
    if request.method == "POST":
        if (request.content_length or 0) > MAX_REPLY_FORM_BYTES:
            error = str(_l("The attachments are too large together."))
        else:
            text = request.form.get("text", "")[: replies.MAX_TEXT + 1]
            files = [(f.filename or "attachment", f.read(replies.MAX_ATTACHMENT_BYTES + 1))
                     for f in request.files.getlist("attachments") if f and f.filename]
            try:
                replies.reply(postbox(), vault(), document_id, text, files,
                              dispute=request.form.get("dispute") == "yes", owner_id=owner_id)
            except PostboxError as exc:
                if not correctable(exc):
                    raise
                error = describe(exc)[1]
            else:
                flash(_l("Your reply was sent to %(org)s. Automated letters in this matter wait "
                         "until someone there has read it.", org=msg.org_name), "info")
                return redirect(done_url)
    return render_template("portal/reply.html", message=msg, error=error, cancel_url=cancel_url,
                           on_behalf=owner_id is not None,
                           max_text=replies.MAX_TEXT,
                           max_mib=replies.MAX_ATTACHMENT_BYTES // 2**20,
                           max_files=replies.MAX_ATTACHMENTS), 400 if error else 200


@bp.route("/messages/<document_id>/reply", methods=["GET", "POST"])
@login_required
def reply(document_id: str) -> str | tuple[str, int] | Redirect:
    msg = reading.message(postbox(), vault(), document_id)
    here = url_for(".message", document_id=document_id)
    return _reply_page(msg, document_id, here, here)


@bp.route("/postbox/<owner_id>/messages/<document_id>/reply", methods=["GET", "POST"])
@login_required
def delegate_reply(owner_id: str, document_id: str) -> str | tuple[str, int] | Redirect:
    """A delegate with read-and-reply access answers in the owner's name and case."""
    msg = delegation_reading.message(postbox(), vault(), owner_id, document_id)
    here = url_for(".delegate_message", owner_id=owner_id, document_id=document_id)
    return _reply_page(msg, document_id, here, here, owner_id=owner_id)


@bp.get("/cases/<case_id>")
@login_required
def case(case_id: str) -> str:
    view = reading.case_view(postbox(), vault(), case_id)
    return render_template("portal/case.html", case=view)

