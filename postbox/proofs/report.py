"""The verifier's report: fixed check names, one PASS/FAIL line per check, failure lists."""
from __future__ import annotations

from dataclasses import dataclass, field

MANIFEST = "manifest"
MANIFEST_SIGNATURE = "manifest signature"
TRUST_FILE = "trust file"
CHECKPOINT_SIGNATURE = "checkpoint signature"
COSIGNATURES = "cosignatures"
EVIDENCE_COUNT = "evidence count"
EVIDENCE_ORDER = "evidence order"
SELECTION = "selection"
SIGNATURES = "evidence signatures"
COUNTERSIGNATURES = "countersignatures"
INCLUSION = "inclusion proofs"
CHAINS = "prev chains"
COMMITMENT = "document commitment"
CHECKS = (MANIFEST, MANIFEST_SIGNATURE, TRUST_FILE, CHECKPOINT_SIGNATURE, COSIGNATURES,
          EVIDENCE_COUNT, EVIDENCE_ORDER, SELECTION, SIGNATURES, COUNTERSIGNATURES, INCLUSION,
          CHAINS, COMMITMENT)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


@dataclass
class Report:
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    def failed(self) -> list[str]:
        return [r.name for r in self.results if not r.ok]

    def get(self, name: str) -> CheckResult | None:
        return next((r for r in self.results if r.name == name), None)

    def lines(self) -> list[str]:
        out = [r.line() for r in self.results]
        passed = sum(r.ok for r in self.results)
        out.append(f"OK: all {passed} checks passed" if self.ok else
                   f"FAILED: {len(self.results) - passed} of {len(self.results)} checks "
                   f"failed ({', '.join(self.failed())})")
        return out


class Failures:
    """The first few failures of one check, and how many there were."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.first) < 3:
            self.first.append(message)

    def merge(self, other: Failures) -> None:
        self.count += other.count
        self.first.extend(other.first[: 3 - len(self.first)])

    def describe(self) -> str:
        more = f" (and {self.count - len(self.first)} more)" if self.count > len(self.first) else ""
        return "; ".join(self.first) + more
