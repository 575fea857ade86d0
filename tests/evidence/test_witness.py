"""The witness: cosigns a growing log, and refuses a rewritten or rewound one, loudly."""
from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import delete, update
from werkzeug.serving import make_server

from cli.main import main
from postbox import checkpoints, cosignatures
from postbox.models import Evidence, LogCheckpoint, LogCosignature, LogState, LogTile
from postbox.witness import LogMisbehaved, Witness, WitnessError, create_key, load_key
from web.api_log import register_log_api


def _app(pb) -> Flask:  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    register_log_api(app, pb)
    return app


@pytest.fixture
def witness(world, tmp_path):  # type: ignore[no-untyped-def]
    client = httpx.Client(transport=httpx.WSGITransport(app=_app(world.pb)),
                          base_url="http://log.test")
    yield Witness(client, world.witness_signer, tmp_path / "state", world.clock)
    client.close()


def rewrite_history(pb, drop_event: str = "retrieved") -> None:  # type: ignore[no-untyped-def]
    """What a dishonest operator would do: remove a record, rebuild the tree, sign anew."""
    with pb.uow() as uow:
        s = uow.session
        s.execute(delete(Evidence).where(Evidence.event == drop_event))
        s.execute(update(Evidence).values(leaf_index=None))
        for table in (LogCosignature, LogCheckpoint, LogTile):
            s.execute(delete(table))
        s.execute(update(LogState).values(size=0, root=b"\xe3\xb0\xc4\x42\x98\xfc\x1c\x14"
                                          b"\x9a\xfb\xf4\xc8\x99\x6f\xb9\x24\x27\xae\x41\xe4"
                                          b"\x64\x9b\x93\x4c\xa4\x95\x99\x1b\x78\x52\xb8\x55"))
        uow.commit()


def test_witness_cosigns_each_consistent_checkpoint(world, witness) -> None:
    checkpoints.sign_checkpoint(world.pb)
    first = witness.run_once()
    assert first.posted and first.previous_size is None
    assert checkpoints.latest(world.pb).witnesses == ("witness.example",)
    assert witness.run_once().posted is False  # same checkpoint, already cosigned
    world.deliver("four", world.bob)
    checkpoints.sign_checkpoint(world.pb)
    second = witness.run_once()
    assert second.posted and second.previous_size == first.checkpoint.size
    assert second.checkpoint.size == first.checkpoint.size + 2
    assert "consistent with size" in second.describe()
    pinned = (witness.state / "log.pub").read_text().strip()
    assert pinned == checkpoints.log_verifier(world.pb)


def test_witness_refuses_a_rewritten_log(world, witness) -> None:
    checkpoints.sign_checkpoint(world.pb)
    witness.run_once()
    saved = (witness.state / "checkpoint").read_bytes()
    rewrite_history(world.pb)  # the retrieval disappears...
    world.deliver("four", world.bob)  # ...and the log grows past the old size
    checkpoints.sign_checkpoint(world.pb)
    with pytest.raises(LogMisbehaved, match="FORK"):
        witness.run_once()
    assert (witness.state / "checkpoint").read_bytes() == saved  # kept the honest one
    evidence_files = list((witness.state / "forks").iterdir())
    assert len(evidence_files) == 1 and b"checkpoint now presented" in \
        evidence_files[0].read_bytes()
    assert checkpoints.latest(world.pb).witnesses == ()  # nothing was cosigned


def test_witness_refuses_a_rewind_and_a_same_size_fork(world, witness) -> None:
    checkpoints.sign_checkpoint(world.pb)
    witness.run_once()
    rewrite_history(world.pb)
    checkpoints.sign_checkpoint(world.pb)  # one record fewer: a smaller tree
    with pytest.raises(LogMisbehaved, match="REWIND"):
        witness.run_once()
    with world.pb.uow() as uow:  # one other record instead: the same size, another root
        from postbox import evidence

        subject = evidence.Subject("o" * 32, world.alice.recipient_id, world.docs["one"])
        evidence.record(uow.session, world.pb.keys, "notified", subject, world.clock.now())
        uow.commit()
    checkpoints.sign_checkpoint(world.pb)
    with pytest.raises(LogMisbehaved, match="two different roots for tree size 7"):
        witness.run_once()


def test_witness_refuses_a_checkpoint_signed_by_another_key(world, witness, tmp_path) -> None:
    checkpoints.sign_checkpoint(world.pb)
    witness.run_once()
    from crypto.note import generate_signer
    from postbox.instance import log_key_file

    log_key_file(world.pb.settings).write_text(generate_signer(checkpoints.origin(world.pb))[0])
    world.deliver("four", world.bob)
    checkpoints.sign_checkpoint(world.pb)
    with pytest.raises(WitnessError, match="pinned log key"):
        witness.run_once()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_witness_exits_1_on_a_fork(world, tmp_path: Path) -> None:
    server = make_server("127.0.0.1", 0, _app(world.pb), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        runner = CliRunner()
        key, state = tmp_path / "w.key", tmp_path / "state"
        made = runner.invoke(main, ["witness", "keygen", "compliance-desk", "--key", str(key)])
        assert made.exit_code == 0, made.output
        verifier = made.stdout.strip().splitlines()[-1]
        assert load_key(key).startswith("PRIVATE+KEY+compliance-desk+")
        cosignatures.add_witness(world.pb, verifier)
        checkpoints.sign_checkpoint(world.pb)
        args = ["witness", "--server", url, "--key", str(key), "--state", str(state), "--once"]
        ok = runner.invoke(main, args)
        assert ok.exit_code == 0, ok.output
        assert "cosigned and posted" in ok.stdout
        assert checkpoints.latest(world.pb).witnesses == ("compliance-desk",)
        rewrite_history(world.pb)
        world.deliver("four", world.bob)
        checkpoints.sign_checkpoint(world.pb)
        refused = runner.invoke(main, args)
        assert refused.exit_code == 1
        assert "LOG FORK REFUSED" in refused.stderr and "!!!!" in refused.stderr
        missing = runner.invoke(main, ["witness", "--server", url, "--once"])
        assert missing.exit_code == 2
        with pytest.raises(Exception, match="already exists"):
            create_key(key, "again")
    finally:
        server.shutdown()
        thread.join(5)
