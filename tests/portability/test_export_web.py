"""The "Export my postbox" page: a fresh PIN + code, refusals in place, the zip as the answer,
and over a real socket a chunked stream that a tampered document cuts short."""
from __future__ import annotations

import http.client
import io
import threading
import zipfile
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.serving import make_server

from postbox.bootstrap import Postbox
from postbox.models import Document, Evidence
from tests.fixtures.postbox import PIN, pdf_bytes
from tests.web.helpers import login, post
from web import create_app

from .conftest import World

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(pb: Postbox) -> Flask:
    return create_app(pb, {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _retrievals(pb: Postbox) -> int:
    with pb.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Evidence)
                                  .where(Evidence.event == "retrieved")) or 0


def test_settings_links_to_the_export_page(client, postbox_world: World) -> None:
    login(client, postbox_world.alice)
    settings = client.get("/settings").get_data(as_text=True)
    assert 'href="/settings/export"' in settings
    page = client.get("/settings/export")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="pin"' in html and 'name="otp"' in html


def test_wrong_factors_are_refused_in_place_and_the_right_ones_download(
        client, postbox_world: World) -> None:
    w = postbox_world
    letter = pdf_bytes("a letter for the export")
    doc_id = w.deliver("acme", letter, "Your statement")
    login(client, w.alice)
    wrong_pin = post(client, "/settings/export", {"pin": "999999", "otp": w.alice.otp()},
                     token_from="/settings/export")
    assert wrong_pin.status_code == 401
    assert wrong_pin.mimetype == "text/html"
    assert "do not match our records" in wrong_pin.get_data(as_text=True)
    wrong_otp = post(client, "/settings/export", {"pin": PIN, "otp": "000000"},
                     token_from="/settings/export")
    assert wrong_otp.status_code == 401
    empty = post(client, "/settings/export", {}, token_from="/settings/export")
    assert empty.status_code == 401
    no_csrf = client.post("/settings/export", data={"pin": PIN, "otp": w.alice.otp()})
    assert no_csrf.status_code == 400
    assert _retrievals(w.pb) == 0

    ok = post(client, "/settings/export", {"pin": PIN, "otp": w.alice.otp()},
              token_from="/settings/export")
    assert ok.status_code == 200
    assert ok.mimetype == "application/zip"
    assert ok.headers["Content-Disposition"].startswith(
        'attachment; filename="postbox-export-2026-11-24.zip"')
    assert ok.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(ok.get_data())) as zf:
        assert zf.read("documents/Acme Bank/2026-11-24 Your statement "
                       f"({doc_id[:8]}).pdf") == letter
    assert _retrievals(w.pb) == 1
    history = client.get("/history").get_data(as_text=True)
    assert "Your statement" in history


def test_repeated_failures_lock_the_postbox(client, postbox_world: World) -> None:
    w = postbox_world
    login(client, w.alice)
    statuses = [post(client, "/settings/export", {"pin": "999999", "otp": w.alice.otp()},
                     token_from="/settings/export").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    locked = post(client, "/settings/export", {"pin": PIN, "otp": w.alice.otp()},
                  token_from="/settings/export")
    assert locked.status_code == 423
    assert "locked" in locked.get_data(as_text=True)


def test_logged_out_visitor_is_sent_to_login(client, postbox_world: World) -> None:
    assert client.get("/settings/export").status_code == 302
    assert client.post("/settings/export").status_code in (302, 400)


@pytest.fixture
def server(app: Flask) -> Iterator[object]:
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    thread.join(timeout=10)


def _tamper(pb: Postbox, document_id: str) -> None:
    with pb.uow() as uow:
        key = uow.session.scalar(select(Document.blob_key).where(Document.id == document_id))
    with pb.store.open(key) as blob:
        data = blob.read()
    pb.store.put(key, io.BytesIO(data[:-5000]))  # the final chunk is gone: truncation


def test_a_tampered_document_cuts_the_stream_and_is_not_recorded(
        server, client, postbox_world: World) -> None:
    w = postbox_world
    big = b"%PDF-1.4\n" + bytes(range(256)) * 800
    first = w.deliver("acme", big, "First")
    w.clock.advance(seconds=1)
    bad = w.deliver("acme", big, "Second")
    w.clock.advance(seconds=1)
    w.deliver("acme", big, "Third")
    _tamper(w.pb, bad)
    client.environ_base["HTTP_USER_AGENT"] = "export-test"
    login(client, w.alice)
    page = client.get("/settings/export").get_data(as_text=True)
    cookie = client.get_cookie("__Host-postbox").value  # now holding the form's CSRF secret
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    body = urlencode({"csrf_token": token, "pin": PIN, "otp": w.alice.otp()})
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=20)
    conn.request("POST", "/settings/export", body=body, headers={
        "Cookie": f"__Host-postbox={cookie}", "User-Agent": "export-test",
        "Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    with w.pb.uow() as uow:
        recorded = set(uow.session.scalars(select(Evidence.document_id)
                                           .where(Evidence.event == "retrieved")))
    assert recorded == {first}  # the one before was handed over; the bad one and after: not
