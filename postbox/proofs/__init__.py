"""Proof bundles: export (needs the database), offline verification and the PDF certificate.

Deliberately imports nothing at module level: ``postbox.proofs.verify`` must load without a
database driver, settings or an instance folder, so importing the package may not pull those
in. The two functions below (what the organisation console calls) import lazily.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postbox.bootstrap import Postbox


def export_bundle(pb: Postbox, org_id: str, *, document_id: str | None = None,
                  batch_id: str | None = None, recipient: str | None = None,
                  since: date | datetime | None = None, until: date | datetime | None = None
                  ) -> Iterator[bytes]:
    """The proof bundle (zip) for one organisation's selection, as streamed chunks.

    The criteria combine; ``recipient`` is the organisation's external id; a date covers its
    whole day (``until`` inclusive). Errors (nothing selected, not found) are raised here,
    before the first chunk."""
    from postbox.proofs import export

    selection = export.select_evidence(pb, document=document_id, batch=batch_id,
                                       recipient=recipient, since=since, until=until,
                                       org=org_id)
    return iter(export.BundleStream(pb, selection, None))


def export_certificate(pb: Postbox, org_id: str, *, document_id: str | None = None,
                       batch_id: str | None = None, recipient: str | None = None,
                       since: date | datetime | None = None, until: date | datetime | None = None
                       ) -> Iterator[bytes]:
    """The PDF certificate for the same selection, as streamed chunks (errors raised first)."""
    from postbox.proofs import export

    selection = export.select_evidence(pb, document=document_id, batch=batch_id,
                                       recipient=recipient, since=since, until=until,
                                       org=org_id)
    return export.certificate(pb, selection)
