"""Export selections (document, batch, recipient, period), whole chains, the CLI and streaming."""
from __future__ import annotations

import json
import zipfile
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from cli.main import main
from postbox import batches, checkpoints
from postbox.errors import InvalidInput, NotFound
from postbox.models import Document
from postbox.proofs import export
from postbox.proofs import format as fmt
from tests.fixtures.postbox import CHEAP_ENV

from .conftest import verify


def _events(path) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        bodies = [json.loads(json.loads(line)["body"])
                  for line in zf.read(fmt.EVIDENCES).splitlines()]
    return [(b["document"], b["event"]) for b in bodies]


def test_selections_hold_whole_chains_of_the_documents_they_touch(world, tmp_path) -> None:
    world.cosign()
    one, two, three = (world.docs[n] for n in ("one", "two", "three"))
    org_id = export.select_evidence(world.pb, document=one, org="acme").org_id
    batch = batches.create_batch(world.pb, org_id, reference="March")
    with world.pb.uow() as uow:
        uow.session.execute(update(Document).where(Document.id.in_([two, three]))
                            .values(batch_id=batch.id))
        uow.commit()
    world.export(tmp_path / "batch.zip", batch=batch.id, org="acme")
    assert {d for d, _ in _events(tmp_path / "batch.zip")} == {two, three}
    # A period that holds only the retrieval of "one" still brings its whole chain.
    retrieved_at = world.clock.now() - timedelta(seconds=1)
    world.export(tmp_path / "period.zip", since=retrieved_at - timedelta(seconds=1),
                 until=retrieved_at + timedelta(seconds=1), org="acme")
    assert _events(tmp_path / "period.zip") == [
        (one, "submission_accepted"), (one, "consigned"), (one, "retrieved")]
    world.export(tmp_path / "bob.zip", recipient="CUST-2", org="acme")
    assert {d for d, _ in _events(tmp_path / "bob.zip")} == {three}
    # Criteria combine: alice's documents in the batch; the org console's whole days.
    world.export(tmp_path / "both.zip", recipient="CUST-1", batch=batch.id, org="acme")
    assert {d for d, _ in _events(tmp_path / "both.zip")} == {two}
    world.export(tmp_path / "day.zip", since=world.clock.now().date(),
                 until=world.clock.now().date(), org="acme")
    assert {d for d, _ in _events(tmp_path / "day.zip")} == {one, two, three}
    for name in ("batch.zip", "period.zip", "bob.zip", "both.zip", "day.zip"):
        report = verify(tmp_path / name)
        assert report.ok, (name, report.lines())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_selection_errors(world) -> None:
    pb = world.pb
    with pytest.raises(InvalidInput):
        export.select_evidence(pb)
    with pytest.raises(InvalidInput):
        export.select_evidence(pb, since=world.clock.now(), until=world.clock.now())
    with pytest.raises(NotFound):
        export.select_evidence(pb, document="0" * 32)
    with pytest.raises(NotFound):
        export.select_evidence(pb, recipient="NOPE", org="acme")
    from postbox import orgs

    orgs.create_org(pb, "Other", "other")
    with pytest.raises(NotFound):  # another org's document does not exist for this one
        export.select_evidence(pb, document=world.docs["one"], org="other")
    nothing = export.select_evidence(pb, since=world.clock.now() + timedelta(days=1))
    with pytest.raises(NotFound):
        export.export_bundle(pb, nothing, open("/dev/null", "wb"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bundle_is_streamed_in_pieces_and_uses_the_newest_cosigned_checkpoint(world) -> None:
    cosigned = world.cosign()
    world.deliver("four", world.bob)
    checkpoints.sign_checkpoint(world.pb)  # newer, not cosigned yet
    sel = export.select_evidence(world.pb, document=world.docs["one"])
    stream = export.BundleStream(world.pb, sel, None)
    assert stream.checkpoint.size == cosigned.size  # the cosigned one still covers it
    chunks = list(stream)
    assert len([c for c in chunks if c]) >= 4 and stream.report.evidence_count == 3
    assert stream.report.cosigned
    late = export.BundleStream(world.pb, export.select_evidence(
        world.pb, document=world.docs["four"]), None)
    assert late.checkpoint.witnesses == () and not late.report.cosigned


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_export_writes_bundle_and_certificate(world, tmp_path) -> None:
    world.cosign()
    s = world.pb.settings
    env = {"POSTBOX_HOME": str(s.home), "POSTBOX_DATABASE_URL": s.database_url,
           "POSTBOX_MASTER_KEY": s.master_key_hex, **CHEAP_ENV}
    out, pdf = tmp_path / "b.zip", tmp_path / "c.pdf"
    result = CliRunner().invoke(main, ["proofs", "export", "--recipient", "CUST-1", "--org",
                                       "acme", "-o", str(out), "--pdf", str(pdf)], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "5 evidences, checkpoint size 7, cosigned by witness.example"
    assert lines[-1] == str(out) and pdf.read_bytes().startswith(b"%PDF")
    assert verify(out).ok and not (tmp_path / "b.zip.part").exists()
    bad = CliRunner().invoke(main, ["proofs", "export", "-o", str(out)], env=env)
    assert bad.exit_code == 1 and "choose what to export" in bad.stderr
