"""Proof exports from the console (verified offline), and the webhook page's recent attempts."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from postbox import outbox, webhooks
from tests.org.helpers import csrf_token, deliver, login

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _verify(bundle: bytes, tmp_path: Path) -> None:
    from cli.main import main

    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle)
    result = CliRunner().invoke(main, ["proofs", "verify", str(path)])
    assert result.exit_code == 0, result.output


def test_officer_exports_a_bundle_that_verifies(client, pb, org, officer, tmp_path) -> None:
    doc = deliver(pb, org, "CUST-1")
    login(client, officer)
    assert 'id="export-bundle"' in client.get(f"/org/compliance/documents/{doc}").get_data(
        as_text=True)
    response = client.get(f"/org/compliance/documents/{doc}/bundle.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed
    assert zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    _verify(response.data, tmp_path)


def test_officer_exports_a_search_selection(client, pb, org, officer, tmp_path) -> None:
    deliver(pb, org, "CUST-1")
    deliver(pb, org, "CUST-1")
    login(client, officer)
    assert 'id="export-selection"' in client.get(
        "/org/compliance?external_id=CUST-1").get_data(as_text=True)
    response = client.get("/org/compliance/export.zip?external_id=CUST-1")
    assert response.status_code == 200
    _verify(response.data, tmp_path)


def test_officer_downloads_the_pdf_certificate(client, pb, org, officer) -> None:
    from pypdf import PdfReader

    doc = deliver(pb, org, "CUST-1")
    login(client, officer)
    response = client.get(f"/org/compliance/documents/{doc}/certificate.pdf")
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert doc in text


def test_webhook_page_lists_recent_attempts(client, pb, org, admin) -> None:
    webhooks.create_endpoint(pb, org, "https://hooks.acme.example/p",
                                                 ["consigned"])
    deliver(pb, org, "CUST-1")  # emits "consigned" to the endpoint
    jobs = outbox.claim(pb, "test", limit=10)
    assert jobs
    login(client, admin)
    html = client.get("/org/settings/webhooks").get_data(as_text=True)
    assert 'class="attempts"' in html and "consigned" in html
    assert csrf_token(client, "/org/settings/webhooks")
