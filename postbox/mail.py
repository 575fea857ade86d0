"""Sending e-mail: a small Mailer port, an SMTP adapter and the embedded .eml file writer.

``POSTBOX_SMTP_URL`` picks the adapter: ``smtp://`` (plain, for a local relay),
``smtp+starttls://`` (upgrade with certificate checks), ``smtps://`` (implicit TLS); user and
password in the URL's user part (percent-encoded), ``?timeout=S`` and ``?cafile=PATH`` for a
private CA. Without it, messages are written as .eml files under ``<home>/mail``.

Failures are sorted for the outbox: a 5xx answer to RCPT or DATA is the recipient's address
failing (permanent: no retry, the address is flagged); everything else (4xx, no connection,
timeouts, and also a refused login or sender, which are our configuration) is temporary.
Every socket has a timeout. Addresses are checked again here, so a value with CR/LF that
somehow got into the database never reaches the SMTP conversation.
"""
from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from postbox.config import Settings
from postbox.errors import ConfigError, PostboxError
from postbox.validation import email as valid_email

log = logging.getLogger("postbox.mail")
SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(PostboxError):
    kind = "mail"


class TemporaryMailError(MailError):
    """Try again later: greylisting, a full mailbox, the relay down or slow."""


class PermanentMailError(MailError):
    """The address failed for good (5xx to RCPT or DATA, or an address we refuse to use)."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def describe(self) -> str: ...


def check_recipient(address: str) -> str:
    """The address if it is a plain, valid one; never "cleaned" (CR/LF is refused)."""
    if not isinstance(address, str) or re.search(r"[\r\n\0]", address):
        raise PermanentMailError("address with a line break refused")
    try:
        return valid_email(address)
    except PostboxError:
        raise PermanentMailError("not a usable e-mail address") from None


def envelope(message: EmailMessage) -> tuple[str, str]:
    """(sender, recipient) of a one-recipient message. The sender comes from checked
    configuration; the recipient is checked again as a plain address."""
    sender = parseaddr(str(message["From"]))[1]
    if not sender or re.search(r"[\r\n\0]", sender):
        raise MailError("POSTBOX_MAIL_FROM is not a usable address")
    return sender, check_recipient(str(message["To"] or ""))


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    cafile: str | None = None

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str, timeout_s: float = 30.0) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError("POSTBOX_SMTP_URL must be smtp://, smtp+starttls:// or smtps:// "
                          "with a host")
    query = parse_qs(parts.query)
    try:
        port = parts.port or SCHEMES[parts.scheme]
        timeout = float(query.get("timeout", [timeout_s])[0])
    except ValueError:
        raise ConfigError("POSTBOX_SMTP_URL has a malformed port or timeout") from None
    if timeout <= 0:
        raise ConfigError("POSTBOX_SMTP_URL timeout must be positive")
    return SmtpTarget(parts.scheme, parts.hostname, port,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None,
                      timeout, query.get("cafile", [None])[0])


def _code(exc: smtplib.SMTPException) -> int:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return min(codes) if codes else 0
    return int(getattr(exc, "smtp_code", 0) or 0)


class SmtpMailer:
    def __init__(self, target: SmtpTarget) -> None:
        self.target = target

    def describe(self) -> str:
        return f"SMTP relay {self.target}"

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.target.cafile)

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        if t.scheme == "smtps":
            return smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout_s, context=self._tls())
        return smtplib.SMTP(t.host, t.port, timeout=t.timeout_s)

    def send(self, message: EmailMessage) -> None:
        sender, recipient = envelope(message)
        data = message.as_bytes(policy=SMTP_POLICY)
        try:
            with self._connect() as smtp:
                smtp.ehlo()
                if self.target.scheme == "smtp+starttls":
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if self.target.username:
                    smtp.login(self.target.username, self.target.password or "")
                smtp.sendmail(sender, [recipient], data)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
            code = _code(exc)
            reply = f"{code} {_reply_text(exc)}".strip()
            if 500 <= code < 600:
                raise PermanentMailError(f"the receiving server refused: {reply}") from None
            raise TemporaryMailError(f"the receiving server deferred: {reply}") from None
        except smtplib.SMTPException as exc:
            raise TemporaryMailError(f"SMTP failed: {type(exc).__name__} {_code(exc)}") from None
        except (OSError, ssl.SSLError) as exc:
            raise TemporaryMailError(f"SMTP relay unreachable: {type(exc).__name__}") from None


def _reply_text(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        texts = [msg for _, msg in exc.recipients.values()]
        raw = texts[0] if texts else b""
    else:
        raw = getattr(exc, "smtp_error", b"") or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return re.sub(r"\s+", " ", text)[:200]


class EmlFileMailer:
    """The embedded default: each message becomes ``<dir>/<message-id>.eml`` (mode 0600).

    Written atomically and named by Message-ID, so a re-sent message replaces its own file.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return f".eml files in {self.directory}"

    def path_for(self, message: EmailMessage) -> Path:
        ident = re.sub(r"[^A-Za-z0-9._@-]", "_", str(message["Message-ID"] or "no-id"))
        return self.directory / f"{ident.strip('_')}.eml"

    def send(self, message: EmailMessage) -> None:
        envelope(message)
        target = self.path_for(message)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as out:
                out.write(message.as_bytes(policy=SMTP_POLICY))
            os.replace(tmp, target)
        except OSError as exc:
            raise TemporaryMailError(f"cannot write {target}: {exc.strerror}") from None
        log.info("notice written to %s", target)


def open_mailer(settings: Settings) -> Mailer:
    """The mailer the settings ask for; logs where mail goes."""
    if settings.smtp_url:
        mailer: Mailer = SmtpMailer(parse_smtp_url(settings.smtp_url, settings.smtp_timeout_s))
        log.info("outgoing mail: %s", mailer.describe())
        return mailer
    mailer = EmlFileMailer(settings.home / "mail")
    # Shown by default: with no relay configured, nobody receives these unless told where.
    log.warning("no POSTBOX_SMTP_URL: notices are written as %s", mailer.describe())
    return mailer
