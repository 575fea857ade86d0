"""Fixtures of the reliability suite: a seeded random source per test, the fault proxy in front
of the loopback S3 server, a Postbox whose store goes through it, and the invariant checker.

Modes and seeds: see tests/reliability/chaos.py (``POSTBOX_RELIABILITY=full``,
``POSTBOX_RELIABILITY_RUNS``, ``POSTBOX_RELIABILITY_SEED``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from postbox.bootstrap import Postbox, build
from postbox.clock import FrozenClock
from postbox.db import make_engine
from postbox.instance import create_key_files
from storage.url import open_store
from tests.fixtures.postbox import cheap_settings
from tests.reliability.chaos import MODE, SEED, Chaos, chaos_for
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.invariants import Invariants, default_invariants
from tests.reliability.rig import S3Rig


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Chaos:
    """This test's random source; the seed is printed if the test fails."""
    found = chaos_for(request.node.nodeid)
    request.node.stash[_CHAOS] = found
    return found


_CHAOS = pytest.StashKey[Chaos]()
_RAN = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    found = item.stash.get(_CHAOS, None)
    if found is None:
        return
    item.config.stash[_RAN] = True
    if report.failed:
        text = f"reproduce: {found.reproduce()}\nchoices: {'; '.join(found.notes)}"
        report.sections.append(("reliability seed", text))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if config.stash.get(_RAN, False):
        terminalreporter.write_line(
            f"reliability suite: mode={MODE} seed={SEED} "
            f"(reproduce with POSTBOX_RELIABILITY_SEED={SEED})")


@pytest.fixture
def invariants() -> Invariants:
    return default_invariants()


# -- S3 through the fault proxy ---------------------------------------------------------------

@pytest.fixture
def s3_rig(tmp_path: Path, db_url: str, s3_server: Any, s3_bucket: str, clock: FrozenClock,
           chaos: Chaos) -> Iterator[Callable[..., S3Rig]]:
    """``make(**url_params)``: a Postbox on the test's bucket behind a fresh fault proxy.

    URL params are the S3 storage URL's (connect_timeout, read_timeout, max_attempts, ...).
    Call it once per test: each call makes a new instance folder with its own master key.
    """
    upstream = urlsplit(s3_server.endpoint)
    proxy = FaultProxy((upstream.hostname or "127.0.0.1", upstream.port or 80), http=True,
                       seed=chaos.rng.randrange(2**32), name="s3-faultproxy").start()
    env = s3_server.env(s3_bucket)
    built: list[Postbox] = []

    def make(**params: str | float) -> S3Rig:
        home = tmp_path / f"instance-{len(built)}"  # the SQLite file is in tmp_path too
        url = s3_server.s3_url(s3_bucket, endpoint=proxy.url, **params)
        settings = cheap_settings(home, POSTBOX_DATABASE_URL=db_url, POSTBOX_STORAGE_URL=url)
        create_key_files(settings)
        pb = build(settings, clock=clock, store=open_store(url, env),
                   engine=make_engine(db_url))
        built.append(pb)
        direct = open_store(s3_server.s3_url(s3_bucket), env)
        return S3Rig(pb, proxy, direct, tmp_path, s3_bucket)

    try:
        yield make
    finally:
        for pb in built:
            pb.close()
        proxy.stop()
