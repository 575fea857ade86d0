"""F8: clock skew for TOTP, at the service level on an injected clock (no sleeping).

±1 step of skew is accepted, ±2 refused, and a code once used stays refused when the server's
clock steps back so that the code is inside the window again. Each run starts at a random
instant and a random phase inside the 30 s step.
"""
from __future__ import annotations

import pytest

from crypto.totp import PERIOD, code_at
from postbox import auth
from postbox.errors import AccountLocked, AuthenticationFailed
from tests.reliability.chaos import databases, repetitions
from tests.reliability.invariants import World
from tests.reliability.rig import PIN, enrol


@pytest.mark.parametrize("run", repetitions(fast=3, full=25))
@pytest.mark.parametrize("db_url", databases(), indirect=True)
def test_f8_totp_skew_window_and_replay_after_the_clock_steps_back(
        run, chaos, pb, clock, tmp_path, invariants) -> None:
    cast = enrol(pb, clock)
    person = cast.people[0]
    clock.advance(seconds=chaos.rng.randint(4 * PERIOD, 90 * 86400) + chaos.rng.random())
    step = int(clock.now().timestamp()) // PERIOD
    chaos.note(f"now={clock.now().isoformat()} step={step}")

    def code(at_step: int) -> str:
        # Any instant inside the step gives the same code; take a random one.
        return code_at(person.totp_secret, at_step * PERIOD + chaos.rng.uniform(0, PERIOD - 1))

    def accepted(otp: str) -> bool:
        try:
            auth.authenticate(pb, person.email, PIN, otp)
        except AccountLocked:
            raise
        except AuthenticationFailed:
            return False
        return True

    assert not accepted(code(step - 2)), f"-2 steps accepted {chaos}"
    assert not accepted(code(step + 2)), f"+2 steps accepted {chaos}"
    assert accepted(code(step - 1)), f"-1 step refused {chaos}"
    used_now = code(step)
    assert accepted(used_now), f"the current step refused after -1 {chaos}"
    assert not accepted(code(step - 1)) and not accepted(used_now), f"a replay passed {chaos}"
    assert accepted(code(step + 1)), f"+1 step refused {chaos}"

    back = chaos.rng.choice([1, 2])
    clock.advance(seconds=-back * PERIOD)
    chaos.note(f"clock steps back {back} step(s)")
    now_step = int(clock.now().timestamp()) // PERIOD
    for candidate in (now_step - 1, now_step, now_step + 1):  # the window, all used before
        assert not accepted(code(candidate)), f"step {candidate - step:+d} replayed {chaos}"
    clock.advance(seconds=(step + 2 - now_step) * PERIOD)
    assert accepted(code(step + 2)), f"a fresh step after the clock recovered refused {chaos}"
    world = World(pb, folders=[tmp_path], canaries=cast.canaries)
    invariants.assert_holds(world, context=str(chaos))
