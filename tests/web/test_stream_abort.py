"""Over a real socket, a document that fails its check at the end never arrives as complete."""
from __future__ import annotations

import http.client
import io
import threading

import pytest
from werkzeug.serving import make_server

from postbox import delivery
from tests.web.helpers import login
from tests.web.test_mail import _retrievals, _tamper

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
AGENT = "stream-abort-test"


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    thread.join(timeout=10)


def _get(server, path: str, cookie: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    conn.request("GET", path, headers={"Cookie": f"__Host-postbox={cookie}",
                                       "User-Agent": AGENT})
    return conn.getresponse()


def test_cut_stream_is_not_a_clean_end(server, client, pb, org, alice) -> None:
    big = b"%PDF-1.4\n" + bytes(range(256)) * 800
    good = delivery.deliver(pb, org, alice.external_id, io.BytesIO(big), "Good", "good.pdf")
    bad = delivery.deliver(pb, org, alice.external_id, io.BytesIO(big), "Bad", "bad.pdf")
    _tamper(pb, bad.document_id)
    client.environ_base["HTTP_USER_AGENT"] = AGENT
    login(client, alice)
    cookie = client.get_cookie("__Host-postbox").value

    whole = _get(server, f"/messages/{good.document_id}/content", cookie)
    assert whole.status == 200 and whole.getheader("Transfer-Encoding") == "chunked"
    assert whole.read() == big
    assert _retrievals(pb) == 1

    cut = _get(server, f"/messages/{bad.document_id}/content", cookie)
    assert cut.status == 200
    with pytest.raises(http.client.IncompleteRead) as raised:
        cut.read()
    assert len(raised.value.partial) < len(big)
    assert _retrievals(pb) == 1  # nothing recorded for the cut one
