"""What follows from a document event, in the same transaction as the event itself.

Delivery and reading call these so reminders and webhook calls are written together with the
change that causes them (the outbox rule): consignment schedules the organisation's reminders
and a ``consigned`` webhook; a retrieval sends ``retrieved`` and, the first time, cancels the
document's pending reminders.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from postbox import reminders, webhooks
from postbox.models import Document


def consigned(session: Session, doc: Document, at: datetime) -> None:
    reminders.schedule_default(session, doc, at)
    webhooks.emit_document_event(session, "consigned", doc.org_id, doc.recipient_id, doc.id, at)


def retrieved(session: Session, doc: Document, at: datetime, first_read: bool) -> None:
    if first_read:
        reminders.cancel_for_document(session, doc.id, at, "read")
    webhooks.emit_document_event(session, "retrieved", doc.org_id, doc.recipient_id, doc.id, at)
