"""The PDF certificate reads like a registered-mail receipt (checked with pypdf)."""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from pypdf import PdfReader

from postbox.proofs import format as fmt
from postbox.proofs.certificate import render_certificate

from .conftest import verify


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_certificate_names_parties_timeline_hashes_keys_checkpoint_and_how_to_verify(
        world, tmp_path) -> None:
    world.cosign()
    bundle = tmp_path / "b.zip"
    world.export(bundle, document=world.docs["one"], org="acme")
    out = io.BytesIO()
    render_certificate(bundle, out, report=verify(bundle))
    text = _text(out.getvalue())
    with zipfile.ZipFile(bundle) as zf:
        bodies = [json.loads(json.loads(line)["body"]) for line in
                  zf.read(fmt.EVIDENCES).splitlines()]
        checkpoint = zf.read(fmt.CHECKPOINT).decode()
    assert "Certificate of delivery evidence" in text
    assert "all 12 checks of the bundle passed" in text
    assert "Acme Bank" in text and "CUST-1 at Acme Bank" in text  # the parties
    for body in bodies:  # the timeline, in UTC, with what happened in plain words
        assert body["time"][:10] in text and body["time"][11:19] in text
    for words in ("Submitted by the sender", "Placed in the recipient's postbox",
                  "Opened and fully received by the recipient", "countersigned by the recipient",
                  "[ContentHandover]"):
        assert words in text
    assert bodies[0]["ciphertext_sha256"] in text and bodies[0]["commitment"] in text
    assert bodies[0]["key_id"] in text  # the key ids
    origin, size, root = checkpoint.split("\n")[:3]
    assert origin in text and root in text and "witness.example" in text
    assert "postbox proofs verify bundle.zip --trust trust.json" in text
    assert re.search(r"page \d", text)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_certificate_of_a_tampered_bundle_says_so(world, tmp_path) -> None:
    world.cosign()
    bundle = tmp_path / "b.zip"
    world.export(bundle, recipient="CUST-1", org="acme")
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[fmt.PARTIES] = members[fmt.PARTIES].replace(b"Acme Bank", b"Acme Bonk")
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    out = io.BytesIO()
    render_certificate(bundle, out, report=verify(bundle))
    text = _text(out.getvalue())
    assert "WARNING: the bundle FAILED these checks: manifest" in text
