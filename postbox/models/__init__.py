"""The metadata schema: one declarative ``Base`` and every table, importable from here.

Tables are created only by migrations (postbox/migrations); a test keeps these models and
the migrated schema identical.
"""
from postbox.models.base import Base, UTCDateTime, new_id, utcnow
from postbox.models.batches import BATCH_STATES, ITEM_STATES, Batch, BatchItem
from postbox.models.delegation import DelegateRetrieval, DelegateStanza, DelegationGrant
from postbox.models.documents import Case, Document, PendingBlob
from postbox.models.escalation import DocumentEscalation, EscalationPolicy, PrintJob
from postbox.models.evidence import Evidence, SigningKey
from postbox.models.log import LogCheckpoint, LogCosignature, LogState, LogTile, LogWitness
from postbox.models.notices import (
    NOTICE_ITEM_STATES,
    NOTICE_REASONS,
    NoticeItem,
    NoticeState,
    ReminderPolicy,
    WebhookEndpoint,
)
from postbox.models.organisations import ROLES, ApiToken, Organisation, StaffUser
from postbox.models.outbox import OUTBOX_STATUSES, Outbox
from postbox.models.replies import REPLY_KINDS, Reply
from postbox.models.recipients import (
    KEY_PURPOSES,
    RECIPIENT_STATES,
    LoginThrottle,
    Recipient,
    RecipientLink,
    VaultSession,
    WrappedKey,
)
from postbox.models.staff import StaffInvite, StaffSession

__all__ = [
    "BATCH_STATES",
    "ITEM_STATES",
    "KEY_PURPOSES",
    "NOTICE_ITEM_STATES",
    "NOTICE_REASONS",
    "OUTBOX_STATUSES",
    "RECIPIENT_STATES",
    "REPLY_KINDS",
    "ROLES",
    "ApiToken",
    "Base",
    "Batch",
    "BatchItem",
    "Case",
    "DelegateRetrieval",
    "DelegateStanza",
    "DelegationGrant",
    "Document",
    "DocumentEscalation",
    "EscalationPolicy",
    "Evidence",
    "LogCheckpoint",
    "LogCosignature",
    "LogState",
    "LogTile",
    "LogWitness",
    "LoginThrottle",
    "NoticeItem",
    "NoticeState",
    "Organisation",
    "Outbox",
    "PendingBlob",
    "PrintJob",
    "Recipient",
    "RecipientLink",
    "ReminderPolicy",
    "Reply",
    "SigningKey",
    "StaffInvite",
    "StaffSession",
    "StaffUser",
    "UTCDateTime",
    "VaultSession",
    "WebhookEndpoint",
    "WrappedKey",
    "new_id",
    "utcnow",
]
