"""I3: every recipient gets the notices the policy says, and a duplicate only ever repeats the
same Message-ID. Checked from what the database recorded, after every scenario:

- an arrival is one notice cause per document (a replayed job adds nothing);
- a sent notice item is covered by exactly one notice e-mail job, and that job is done;
- a recipient's notice e-mails are at least one notice window apart (coalescing);
- a document marked ``notified`` has a sent notice item.

When a scenario hands over what its SMTP sink received (``world.extra["mails"]``, a list of
``email.message.EmailMessage``), every Message-ID must belong to a finished notice job, and two
messages with one Message-ID must be the same notice (a retry after a lost reply).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import func, select

from postbox import notices
from postbox.models import Document, NoticeItem, Outbox
from tests.reliability.invariants import Violation, World, invariant


@invariant("I3")
def notices_follow_the_policy(world: World) -> Iterator[Violation]:
    window = timedelta(seconds=world.pb.settings.notice_window_s)
    with world.pb.uow() as uow:
        s = uow.session
        for document_id, n in s.execute(
                select(NoticeItem.document_id, func.count()).where(NoticeItem.reason == "arrival")
                .group_by(NoticeItem.document_id).having(func.count() > 1)):
            yield Violation("I3", f"document {document_id}: {n} arrival notices")
        mail_jobs = {row.id: row for row in s.scalars(
            select(Outbox).where(Outbox.kind == notices.MAIL_KIND))}
        sent_jobs: set[str] = set()
        for item_id, job_id in s.execute(select(NoticeItem.id, NoticeItem.job_id)
                                         .where(NoticeItem.state == "sent")):
            job = mail_jobs.get(job_id or "")
            if job is None or job.status != "done":
                yield Violation("I3", f"notice item {item_id} sent without a finished e-mail")
            else:
                sent_jobs.add(job.id)
        sent: dict[str, list] = defaultdict(list)
        for job_id in sent_jobs:
            job = mail_jobs[job_id]
            sent[str(json.loads(job.payload)["recipient_id"])].append(job.done_at)
        for recipient_id, times in sent.items():
            times.sort()
            for before, after in zip(times, times[1:]):
                if after - before < window:
                    yield Violation("I3", f"recipient {recipient_id}: two notices "
                                          f"{after - before} apart (window {window})")
        unnotified = s.scalars(select(Document.id).where(
            Document.status == "notified",
            ~select(NoticeItem.id).where(NoticeItem.document_id == Document.id,
                                         NoticeItem.state == "sent").exists()))
        for document_id in unnotified:
            yield Violation("I3", f"document {document_id} is notified without a sent notice")
    by_id: dict[str, list] = defaultdict(list)
    for message in world.extra.get("mails", ()):
        by_id[str(message["Message-ID"])].append(message)
    known = {notices.message_id(job_id, world.pb.settings) for job_id in mail_jobs}
    for mid, copies in by_id.items():
        if mid not in known:
            yield Violation("I3", f"an e-mail {mid} belongs to no notice job")
        if len({(str(m["To"]), m.get_body(("plain",)).get_content()) for m in copies}) > 1:
            yield Violation("I3", f"{len(copies)} different e-mails share the Message-ID {mid}")
