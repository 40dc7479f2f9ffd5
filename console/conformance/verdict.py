"""What one check concluded about one contract of one operation, and the evidence for it.

A verdict is the unit every report, the CLI and the console's ``:check`` view share: it names
the operation, the contract (a slug of docs/contracts.md, or ``oauth2`` / ``transaction-log``), one
of five outcomes, the evidence an operator can open (request ids, status, the deciding headers
or event, the transaction id) and a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PASSED = "passed"
FAILED = "failed"
NOT_APPLICABLE = "not-applicable"
CATALOGUE_DEFECT = "catalogue-defect"
SKIPPED = "skipped"

VerdictWord = Literal["passed", "failed", "not-applicable", "catalogue-defect", "skipped"]

#: Every outcome, in the order reports count them.
VERDICTS: tuple[str, ...] = (PASSED, FAILED, NOT_APPLICABLE, CATALOGUE_DEFECT, SKIPPED)

#: The two promises every operation makes besides its catalogued contracts.
EVERY_OPERATION: tuple[str, ...] = ("oauth2", "transaction-log")

#: Every contract slug a verdict may name, in report column order.
CONTRACT_SLUGS: tuple[str, ...] = (
    "oauth2",
    "transaction-log",
    "rollback-on-error",
    "kafka-event",
    "latency-sla",
    "full-log",
    "retry",
    "rate-limit",
    "api-gateway",
    "versioning",
    "json-xml",
    "restful",
)


@dataclass
class Verdict:
    """One (operation, contract) conclusion.

    ``evidence`` is plain JSON-able data: ``request_ids`` (list), ``status``, ``headers`` (the
    deciding ones), ``event`` (the deciding event), ``transaction_ids`` (the console's log).
    """

    path: str
    method: str
    action: str
    contract: str
    verdict: str
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.path, self.method, self.action, self.contract

    @property
    def operation_label(self) -> str:
        return f"{self.method} {self.path}?action={self.action}"

    @property
    def request_ids(self) -> list[str]:
        return list(self.evidence.get("request_ids", []))

    @property
    def transaction_ids(self) -> list[str]:
        return list(self.evidence.get("transaction_ids", []))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` line: at least path, method, action, contract, verdict, evidence."""
        return {
            "path": self.path,
            "method": self.method,
            "action": self.action,
            "contract": self.contract,
            "verdict": self.verdict,
            "reason": self.reason,
            "evidence": self.evidence,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            path=data["path"],
            method=data["method"],
            action=data["action"],
            contract=data["contract"],
            verdict=data["verdict"],
            reason=data.get("reason", ""),
            evidence=dict(data.get("evidence", {})),
            elapsed_ms=float(data.get("elapsed_ms", 0.0)),
        )


def summarise(verdicts: list[Verdict]) -> dict[str, int]:
    """Count of each outcome, every outcome present (zero when none)."""
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in verdicts:
        counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    return counts
