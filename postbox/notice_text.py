"""The words of a notice e-mail, in English and German, as plain text and HTML.

What a notice may say is deliberately little (lessons from myGov, Digipost, Altinn): how many
documents or messages arrived or wait unread, the sender only if it opted in, the recipient's
own security phrase and notice code, and no link, no subject, no file name, no content.
The portal address, when configured, is written as plain text for people to type.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime


@dataclass(frozen=True)
class NoticeFacts:
    """Everything a notice shows; nothing here comes from a document."""

    language: str
    new_documents: int
    new_messages: int
    unread_reminders: int
    senders: tuple[str, ...]  # only organisations that opted in
    phrase: str | None
    code: str
    address: str | None  # the portal's host, as text
    delegate_opens: int = 0  # the owner's documents that someone they trusted opened


EN: dict[str, str] = {
    "subject": "You have new post in your postbox",
    "subject_reminder": "Reminder: unread post in your postbox",
    "greeting": "Hello,",
    "documents.1": "There is 1 new document in your postbox.",
    "documents.n": "There are {n} new documents in your postbox.",
    "messages.1": "There is 1 new message in your postbox.",
    "messages.n": "There are {n} new messages in your postbox.",
    "reminders.1": "1 document in your postbox is still unread.",
    "reminders.n": "{n} documents in your postbox are still unread.",
    "delegate_opens.1": ("Someone you gave access to your postbox opened 1 document. "
                         "Your history shows who and when."),
    "delegate_opens.n": ("Someone you gave access to your postbox opened {n} documents. "
                         "Your history shows who and when."),
    "subject_delegate": "Your postbox was used by someone you gave access to",
    "senders": "From: {names}",
    "how": ("Open your postbox as usual: type its address yourself or use your bookmark. "
            "This e-mail contains no link and no attachment, and we never ask for your PIN "
            "or codes by e-mail."),
    "phrase": "Your security phrase: {phrase}",
    "no_phrase": ("You have not chosen a security phrase yet. Choose one in your postbox "
                  "settings; it will then appear in every notice, so you can tell our "
                  "e-mails from fakes."),
    "code": "Notice code: {code} (the same code is shown at the top of your inbox)",
    "address": "Your postbox: {address}",
    "footer": "This is an automatic message. Replies to it are not read.",
}

DE: dict[str, str] = {
    "subject": "Neue Post in Ihrem Postfach",
    "subject_reminder": "Erinnerung: ungelesene Post in Ihrem Postfach",
    "greeting": "Guten Tag,",
    "documents.1": "In Ihrem Postfach ist 1 neues Dokument eingegangen.",
    "documents.n": "In Ihrem Postfach sind {n} neue Dokumente eingegangen.",
    "messages.1": "In Ihrem Postfach ist 1 neue Nachricht eingegangen.",
    "messages.n": "In Ihrem Postfach sind {n} neue Nachrichten eingegangen.",
    "reminders.1": "1 Dokument in Ihrem Postfach ist noch ungelesen.",
    "reminders.n": "{n} Dokumente in Ihrem Postfach sind noch ungelesen.",
    "delegate_opens.1": ("Eine von Ihnen bevollmächtigte Person hat 1 Dokument in Ihrem "
                         "Postfach geöffnet. Ihr Verlauf zeigt, wer und wann."),
    "delegate_opens.n": ("Eine von Ihnen bevollmächtigte Person hat {n} Dokumente in Ihrem "
                         "Postfach geöffnet. Ihr Verlauf zeigt, wer und wann."),
    "subject_delegate": "Ihr Postfach wurde von einer bevollmächtigten Person genutzt",
    "senders": "Absender: {names}",
    "how": ("Öffnen Sie Ihr Postfach wie gewohnt: Geben Sie die Adresse selbst ein oder "
            "nutzen Sie Ihr Lesezeichen. Diese E-Mail enthält keinen Link und keinen Anhang, "
            "und wir fragen nie per E-Mail nach Ihrer PIN oder Ihren Codes."),
    "phrase": "Ihre Sicherheitsphrase: {phrase}",
    "no_phrase": ("Sie haben noch keine Sicherheitsphrase gewählt. Wählen Sie eine in den "
                  "Einstellungen Ihres Postfachs; sie erscheint dann in jeder Benachrichtigung, "
                  "damit Sie unsere E-Mails von Fälschungen unterscheiden können."),
    "code": "Hinweis-Code: {code} (derselbe Code steht oben in Ihrem Posteingang)",
    "address": "Ihr Postfach: {address}",
    "footer": "Dies ist eine automatische Nachricht. Antworten darauf werden nicht gelesen.",
}


def words(language: str) -> dict[str, str]:
    return DE if (language or "").lower().startswith("de") else EN


def paragraphs(facts: NoticeFacts) -> tuple[str, list[str]]:
    """(subject, paragraphs) in the recipient's language."""
    w = words(facts.language)
    lines: list[str] = [w["greeting"]]
    for key, count in (("documents", facts.new_documents), ("messages", facts.new_messages),
                       ("reminders", facts.unread_reminders),
                       ("delegate_opens", facts.delegate_opens)):
        if count:
            lines.append(w[f"{key}.1" if count == 1 else f"{key}.n"].format(n=count))
    if facts.senders:
        lines.append(w["senders"].format(names=", ".join(facts.senders)))
    lines.append(w["how"])
    lines.append(w["phrase"].format(phrase=facts.phrase) if facts.phrase else w["no_phrase"])
    lines.append(w["code"].format(code=facts.code))
    if facts.address:
        lines.append(w["address"].format(address=facts.address))
    lines.append(w["footer"])
    if facts.new_documents or facts.new_messages:
        subject = w["subject"]
    elif facts.unread_reminders:
        subject = w["subject_reminder"]
    else:
        subject = w["subject_delegate"] if facts.delegate_opens else w["subject_reminder"]
    return subject, lines


def build_message(facts: NoticeFacts, *, sender: str, to: str, message_id: str,
                  date: datetime) -> EmailMessage:
    """A multipart/alternative message; headers are fixed text plus checked addresses."""
    subject, lines = paragraphs(facts)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders stay quiet
    lang = "de" if words(facts.language) is DE else "en"
    msg.set_content("\n\n".join(lines) + "\n")
    body = "".join(f"<p>{html.escape(line)}</p>\n" for line in lines)
    msg.add_alternative(
        f"<!doctype html>\n<html lang=\"{lang}\"><head>"
        f"<meta charset=\"utf-8\"><title>{html.escape(subject)}</title></head>\n"
        f"<body>\n{body}</body></html>\n", subtype="html")
    # A boundary derived from the Message-ID: a re-sent notice is the same bytes.
    msg.set_boundary("=_" + "".join(c for c in message_id if c.isalnum())[:60])
    msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
    return msg
