"""The public log endpoints, witness cosignatures and the compliance export, over HTTP."""
from __future__ import annotations

import base64
import re

import pytest
from flask import Flask
from sqlalchemy import select

from crypto.merkle import record_hash, verify_consistency, verify_inclusion
from crypto.note import cosign, open_checkpoint
from postbox import checkpoints, orgs
from postbox.models import Evidence
from postbox.proofs.trustfile import parse_trust
from web.api_log import bp, register_log_api

from .conftest import verify


@pytest.fixture
def client(pb):  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    register_log_api(app, pb)
    return app.test_client()


def _b64s(items: list[str]) -> list[bytes]:
    return [base64.b64decode(i) for i in items]


def test_checkpoint_and_proofs_verify_against_the_trust_file(world, client) -> None:
    assert client.get("/api/v1/log/checkpoint").status_code == 404  # none signed yet
    first = checkpoints.sign_checkpoint(world.pb)
    world.deliver("four", world.bob)
    second = checkpoints.sign_checkpoint(world.pb)
    trust = parse_trust(client.get("/api/v1/log/trust").data)
    note = client.get("/api/v1/log/checkpoint")
    assert note.mimetype == "text/plain"
    cp, _ = open_checkpoint(note.data, trust.log_keys[0])
    assert cp.size == second.size and cp.origin == trust.origin
    old = client.get(f"/api/v1/log/checkpoint?size={first.size}").data
    assert old == first.note
    with world.pb.uow() as uow:
        bodies = list(uow.session.scalars(select(Evidence.body).order_by(Evidence.leaf_index)))
    for i, body in enumerate(bodies):
        answer = client.get(f"/api/v1/log/proof/inclusion?index={i}").get_json()
        assert answer["tree_size"] == cp.size
        verify_inclusion(i, cp.size, record_hash(body), _b64s(answer["proof"]), cp.root)
    proof = client.get(f"/api/v1/log/proof/consistency?first={first.size}").get_json()
    verify_consistency(first.size, cp.size, first.checkpoint.root, cp.root,
                       _b64s(proof["proof"]))
    text = client.get(f"/api/v1/log/proof/inclusion?index=1&size={first.size}"
                      "&format=tlog-proof").data.decode()
    head, _, rest = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[:2] == ["c2sp.org/tlog-proof@v1", "index 1"]
    assert rest.encode() == first.note
    verify_inclusion(1, first.size, record_hash(bodies[1]), _b64s(lines[2:]),
                     first.checkpoint.root)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_requests_are_problem_details(world, client) -> None:
    checkpoints.sign_checkpoint(world.pb)
    for url in ("/api/v1/log/proof/inclusion", "/api/v1/log/proof/inclusion?index=-1",
                "/api/v1/log/proof/inclusion?index=99", "/api/v1/log/proof/consistency?first=x",
                "/api/v1/log/proof/consistency?first=5&second=3"):
        answer = client.get(url)
        assert answer.status_code == 400, url
        assert answer.mimetype == "application/problem+json"
        assert answer.get_json()["type"] == "urn:postbox:problem:invalid-input"
    assert client.get("/api/v1/log/checkpoint?size=12345").status_code == 404
    assert client.post("/api/v1/log/cosignature", data="nonsense",
                       content_type="text/plain").status_code == 400


def test_witness_posts_a_cosignature(world, client) -> None:
    signed = checkpoints.sign_checkpoint(world.pb)
    body = signed.note.decode().split("\n\n")[0] + "\n"
    line = cosign(body, world.witness_signer, 1_800_000_000)
    answer = client.post("/api/v1/log/cosignature", data=body + "\n" + line,
                         content_type="text/plain")
    assert answer.status_code == 200 and answer.get_json() == {
        "size": signed.size, "accepted": ["witness.example"]}
    note = client.get("/api/v1/log/checkpoint").data
    _, cosigs = open_checkpoint(note, checkpoints.log_verifier(world.pb),
                                [world.witness_verifier])
    assert [c.name for c in cosigs] == ["witness.example"]
    forged = body.replace(f"\n{signed.size}\n", f"\n{signed.size - 1}\n")
    answer = client.post("/api/v1/log/cosignature",
                         data=forged + "\n" + cosign(forged, world.witness_signer, 1),
                         content_type="text/plain")
    assert answer.status_code == 409


def test_compliance_export_streams_a_bundle_of_the_orgs_evidence(world, client, tmp_path
                                                                 ) -> None:
    world.cosign()
    compliance = orgs.create_token(world.pb, "acme", "compliance")
    sender = orgs.create_token(world.pb, "acme", "sender")
    orgs.create_org(world.pb, "Other Org", "other")
    stranger = orgs.create_token(world.pb, "other", "compliance")
    url, doc = "/api/v1/proofs/export", {"document_id": world.docs["one"]}
    assert client.post(url, json=doc).status_code == 401
    assert client.post(url, json=doc, headers={"Authorization": f"Bearer {sender}"}
                       ).status_code == 403
    assert client.post(url, json=doc, headers={"Authorization": f"Bearer {stranger}"}
                       ).status_code == 404  # another org's document does not exist for them
    assert client.post(url, json={}, headers={"Authorization": f"Bearer {compliance}"}
                       ).status_code == 400
    assert client.post(url, json={"document_id": world.docs["one"], "batch_id": "x"},
                       headers={"Authorization": f"Bearer {compliance}"}).status_code == 404
    answer = client.post(url, json={"recipient": "CUST-1"},
                         headers={"Authorization": f"Bearer {compliance}"})
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert re.match(r'attachment; filename="proof-recipient-\d{8}T\d{6}Z\.zip"',
                    answer.headers["Content-Disposition"])
    assert answer.headers["X-Cosigned-By"] == "witness.example"
    path = tmp_path / "bundle.zip"
    path.write_bytes(answer.data)
    report = verify(path)
    assert report.ok, report.lines()
    assert "5 evidences" in report.get("evidence count").detail  # alice: 2+2+1, not bob's


def test_openapi_fragment_documents_every_route_with_its_methods(pb) -> None:
    app = Flask(__name__)
    register_log_api(app, pb)
    rules = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("log_api."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len("/api/v1"):])
            rules[path] = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {path: set(item) for path, item in bp.openapi_paths.items()}
    assert rules == documented


def test_works_inside_the_full_app_with_csrf(pb, world) -> None:
    from web import create_app

    app = create_app(pb, {"TESTING": True})
    register_log_api(app, pb)
    checkpoints.sign_checkpoint(pb)
    client = app.test_client()
    body = checkpoints.latest(pb).note.decode().split("\n\n")[0] + "\n"
    answer = client.post("/api/v1/log/cosignature", content_type="text/plain",
                         data=body + "\n" + cosign(body, world.witness_signer, 5))
    assert answer.status_code == 200, answer.data
    note = client.get("/api/v1/log/checkpoint").data.decode()
    assert "\n\u2014 witness.example " in note
