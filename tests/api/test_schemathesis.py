"""schemathesis against the OpenAPI document, in process (WSGI), with bounded examples per
operation in both generation modes: no 5xx, and every answer conforms to the document
(status code, media type, headers, body schema)."""
from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from postbox import batches, delivery, orgs
from tests.api.live import build_app
from tests.fixtures.postbox import pdf_bytes
from tests.web.helpers import activate_person

pytestmark = [pytest.mark.parametrize("db_url", ["sqlite"], indirect=True), pytest.mark.slow]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_api_conforms_to_its_openapi_document(pb, clock, mode: GenerationMode) -> None:
    orgs.create_org(pb, "Acme Bank", "acme")
    activate_person(pb, clock, "acme", "C-1", "c1@example.org")
    auth = {"Authorization": f"Bearer {orgs.create_token(pb, 'acme', 'admin')}"}
    org_id = orgs.get_org(pb, "acme").id
    # Real ids, so the fuzzing reaches past "not found" into the operations themselves.
    document_id = delivery.deliver(pb, "acme", "C-1", io.BytesIO(pdf_bytes("x")), "S",
                                   "a.pdf").document_id
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", build_app(pb))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16  # ours; other features add theirs
    for operation in operations:
        known = {"batch_id": batches.create_batch(pb, org_id).id, "document_id": document_id}
        ids = {k: v for k, v in known.items() if "{" + k + "}" in operation.path}
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=ids or None))
        @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid input to generate.
            if mode is not GenerationMode.NEGATIVE:
                raise
