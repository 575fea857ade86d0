"""schemathesis on the escalation operations only: no 5xx, answers match the document."""
from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from postbox import delivery, escalation_policy, orgs
from tests.api.live import build_app
from tests.api.test_schemathesis import CHECKS
from tests.fixtures.postbox import pdf_bytes

from .conftest import STANDARD, invite

pytestmark = [pytest.mark.parametrize("db_url", ["sqlite"], indirect=True), pytest.mark.slow]
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 8}


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_escalation_operations_conform(pb, clock, mode: GenerationMode) -> None:
    orgs.create_org(pb, "Acme Bank", "acme")
    escalation_policy.set_policy(pb, "acme", "default", STANDARD)
    invite(pb, "acme", "C-1", "c1@example.org")
    auth = {"Authorization": f"Bearer {orgs.create_token(pb, 'acme', 'admin')}"}
    document_id = delivery.deliver(pb, "acme", "C-1", io.BytesIO(pdf_bytes("x")), "S",
                                   "a.pdf").document_id
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", build_app(pb))
    operations = [r.ok() for r in schema.get_all_operations()]
    ours = [op for op in operations if "escalation" in (op.definition.raw.get("tags") or [])]
    assert len(ours) == 12
    for operation in ours:
        ids = {"document_id": document_id} if "{document_id}" in operation.path else None

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=ids))
        @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            if mode is not GenerationMode.NEGATIVE:
                raise
