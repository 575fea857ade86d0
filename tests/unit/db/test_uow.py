"""UnitOfWork lifecycle against a recording fake session (no database)."""
from __future__ import annotations

from typing import Any

import pytest

from postbox.uow import AbstractUnitOfWork, UnitOfWork


class FakeSession:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")

    def rollback(self) -> None:
        self.calls.append("rollback")

    def close(self) -> None:
        self.calls.append("close")


def _uow() -> tuple[UnitOfWork, list[FakeSession]]:
    made: list[FakeSession] = []

    def factory() -> Any:
        made.append(FakeSession())
        return made[-1]

    return UnitOfWork(factory), made


def test_commit_then_exit_closes() -> None:
    uow, made = _uow()
    with uow:
        uow.commit()
    assert made[0].calls == ["commit", "rollback", "close"]  # the rollback finds nothing


def test_exception_rolls_back_closes_and_propagates() -> None:
    uow, made = _uow()
    with pytest.raises(KeyError), uow:
        raise KeyError("x")
    assert made[0].calls == ["rollback", "close"]


def test_session_only_inside_with() -> None:
    uow, _ = _uow()
    with pytest.raises(RuntimeError):
        _ = uow.session
    with uow:
        assert uow.session is not None
    with pytest.raises(RuntimeError):
        _ = uow.session


def test_not_nestable_but_reusable() -> None:
    uow, made = _uow()
    with uow, pytest.raises(RuntimeError), uow:
        pass
    with uow:
        pass
    assert len(made) == 2


def test_unit_of_work_satisfies_the_protocol() -> None:
    def service(uow: AbstractUnitOfWork) -> None:
        with uow:
            uow.commit()

    uow, made = _uow()
    service(uow)
    assert made[0].calls[0] == "commit"
