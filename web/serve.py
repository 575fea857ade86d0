"""``postbox serve``: the web app on werkzeug's threaded server.

Good for the embedded default and for tests; one process, one thread per request. On SQLite
the background worker (notices, reminders, webhooks, checkpoints) runs as a thread in this
process; on PostgreSQL it runs as separate `postbox worker` processes. At scale, run
gunicorn with ``web:create_app()`` instead (docker-compose.yml).
"""
from __future__ import annotations

import sys
from typing import TextIO

from werkzeug.serving import BaseWSGIServer, make_server

from postbox.bootstrap import Postbox
from postbox.db import is_postgres
from postbox.worker import start_worker_thread
from web import create_app


def make(pb: Postbox, host: str = "127.0.0.1", port: int = 8000) -> BaseWSGIServer:
    """A bound, not yet running server (port 0 picks a free port)."""
    return make_server(host, port, create_app(pb), threaded=True)


def serve(pb: Postbox, host: str = "127.0.0.1", port: int = 8000,
          out: TextIO = sys.stdout) -> None:
    """Serve until interrupted, after printing where."""
    server = make(pb, host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/"
    print(f"Postbox portal on {url}  (public URL {pb.settings.public_url}; Ctrl+C stops)",
          file=out)
    if pb.settings.public_url.startswith("http://"):
        print("Serving over plain http: fine on this machine only. Put TLS in front and set "
              "POSTBOX_PUBLIC_URL=https://... before others connect.", file=out)
    worker = None if is_postgres(pb.engine) else start_worker_thread(pb)
    if worker is None:
        print("PostgreSQL: run `postbox worker` processes for notices and webhooks.", file=out)
    print(url, file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if worker is not None:
            worker.stop()
