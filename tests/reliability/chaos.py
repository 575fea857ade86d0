"""Seeds and repetitions for the fault scenarios: fast by default, full for `make reliability`.

- ``POSTBOX_RELIABILITY=full`` runs every scenario more often, at more random points, on both
  databases (fast mode, the default under ``make test``: a few repetitions on SQLite, F1 on
  both).
- ``POSTBOX_RELIABILITY_RUNS=N`` sets the repetitions of every scenario (either mode).
- ``POSTBOX_RELIABILITY_SEED=S`` fixes the master seed; without it a random one is drawn and
  printed in the summary. Each test draws from ``Random(f"{S}:{nodeid}")``, so one failing
  item reproduces alone: ``POSTBOX_RELIABILITY_SEED=S pytest '<nodeid>'``.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

MODE = "full" if os.environ.get("POSTBOX_RELIABILITY", "").lower() == "full" else "fast"
FULL = MODE == "full"


def _master_seed() -> int:
    raw = os.environ.get("POSTBOX_RELIABILITY_SEED", "").strip()
    if raw:
        try:
            return int(raw, 0)
        except ValueError:
            raise SystemExit(f"POSTBOX_RELIABILITY_SEED must be an integer, not {raw!r}") from None
    return random.SystemRandom().randrange(2**32)


SEED = _master_seed()


def repetitions(fast: int, full: int) -> list[int]:
    """Run indexes for a scenario's parametrization."""
    raw = os.environ.get("POSTBOX_RELIABILITY_RUNS", "").strip()
    count = int(raw) if raw.isdigit() and int(raw) > 0 else (full if FULL else fast)
    return list(range(count))


def databases(fast: tuple[str, ...] = ("sqlite",)) -> list[str]:
    """``db_url`` params: both engines in full mode, ``fast`` otherwise."""
    return ["sqlite", "postgres"] if FULL else list(fast)


@dataclass(repr=False)
class Chaos:
    """The random source of one test item, with the seed that reproduces it."""

    seed: int
    nodeid: str
    rng: random.Random = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Record a random choice; shown with the seed when the test fails."""
        self.notes.append(text)

    def reproduce(self) -> str:
        return f"POSTBOX_RELIABILITY_SEED={self.seed} pytest '{self.nodeid}'"

    def __str__(self) -> str:
        return f"[{self.reproduce()}; {'; '.join(self.notes)}]"

    __repr__ = __str__


def chaos_for(nodeid: str, seed: int = SEED) -> Chaos:
    return Chaos(seed, nodeid, random.Random(f"{seed}:{nodeid}"))
