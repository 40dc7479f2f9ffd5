"""Find a catalogue's own contradictions.

Each finding names severity, rule, row and page. Rules:

- ``unknown-method`` / ``unknown-action`` / ``unknown-result`` / ``unknown-policy`` (error): a value
  not in the vocabulary; the message names the closest known value.
- ``corrected-typo`` (warning): a value the importer snapped to the vocabulary.
- ``unsafe-get`` (error): a GET whose action changes state (RFC 9110 §9.2.1: GET is safe).
- ``restful-method-action`` (error on rows that claim ``restful``, else ``method-action`` warning):
  the method contradicts the action under RFC 9110 (DELETE that adds, PUT that deletes…).
- ``retry-non-idempotent`` (warning): retry promised on POST/PATCH, which is only safe to retry
  with an Idempotency-Key.
- ``rollback-on-safe`` (warning): rollback promised on a safe method, which has nothing to roll back.
- ``conflicting-parameters`` (warning): rows of one operation promise other numbers for one contract.
- ``duplicate-row`` (info): a row that repeats another row's operation and contracts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from console.catalogue import vocabulary as vocab
from console.catalogue.model import Catalogue, Contract, Operation, Row

SEVERITIES = ("error", "warning", "info")

#: RFC 9110 semantics: the methods whose meaning contradicts an action. POST "processes the
#: representation according to the resource's own semantics" (§9.3.3), so it fits every action.
CONTRADICTING_METHODS: dict[str, frozenset[str]] = {
    "add-record": frozenset({"GET", "DELETE"}),
    "delete-info": frozenset({"GET", "PUT", "PATCH"}),
    "check-status": frozenset({"PUT", "PATCH", "DELETE"}),
    "export-data": frozenset({"PUT", "PATCH", "DELETE"}),
    "update-config": frozenset({"GET", "DELETE"}),
}
_METHOD_MEANING = {
    "GET": "GET is safe and only reads (RFC 9110 §9.3.1)",
    "DELETE": "DELETE removes the target resource (RFC 9110 §9.3.5)",
    "PUT": "PUT replaces the target's state with the request content (RFC 9110 §9.3.4)",
    "PATCH": "PATCH applies a partial modification (RFC 5789)",
}


@dataclass(frozen=True)
class Finding:
    severity: str
    rule: str
    row: int | None
    page: int | None
    message: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def method_contradicts_action(method: str, action: str) -> str | None:
    """Why ``method`` contradicts ``action`` under RFC 9110, or None when it does not."""
    if method not in CONTRADICTING_METHODS.get(action, frozenset()):
        return None
    return f"{_METHOD_MEANING[method]}, but the action is to {vocab.term(action).en.lower()}"


def restful_defect(op: Operation) -> str | None:
    """For an operation that claims ``restful``: why its method contradicts its action, or None."""
    if not op.has("restful"):
        return None
    reason = method_contradicts_action(op.method, op.action)
    if reason is None:
        return None
    rows = ", ".join(str(r) for r in op.rows)
    return f"catalogue defect (rows {rows}): claims RESTful, yet {reason}"


def lint(catalogue: Catalogue) -> list[Finding]:
    """Every finding, in row order (import findings first for each row)."""
    findings = [Finding(n.severity, n.rule, n.row, n.page, n.message) for n in catalogue.notes]
    seen: dict[tuple[object, ...], int] = {}
    for row in catalogue.rows:
        findings.extend(_row_findings(row))
        identity = (row.operation_key, row.result, row.policy)
        if identity in seen:
            findings.append(Finding("info", "duplicate-row", row.row, row.page,
                                    f"repeats row {seen[identity]}: {row.method} {row.path} {row.action}, "
                                    f"{row.result.slug}, {row.policy.slug}"))
        else:
            seen[identity] = row.row
    for op in catalogue.operations:
        findings.extend(_operation_findings(op, catalogue))
    order = {sev: i for i, sev in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (f.row or 0, order.get(f.severity, 9), f.rule))
    return findings


def _row_findings(row: Row) -> list[Finding]:
    out: list[Finding] = []
    where = f"{row.method} {row.path}?action={row.action}"
    if row.method in vocab.SAFE_METHODS and row.action in vocab.WRITE_ACTIONS:
        out.append(Finding("error", "unsafe-get", row.row, row.page,
                           f"{where}: a GET that changes state — GET must be safe (RFC 9110 §9.2.1)"))
    else:
        reason = method_contradicts_action(row.method, row.action)
        if reason is not None:
            if row.policy.slug == "restful":
                out.append(Finding("error", "restful-method-action", row.row, row.page,
                                   f"{where}: claims RESTful, yet {reason}"))
            else:
                out.append(Finding("warning", "method-action", row.row, row.page, f"{where}: {reason}"))
    if row.result.slug == "retry" and row.method in vocab.NON_IDEMPOTENT_METHODS:
        out.append(Finding("warning", "retry-non-idempotent", row.row, row.page,
                           f"{where}: retry promised on {row.method}, which is not idempotent — "
                           "safe only with an Idempotency-Key"))
    if row.result.slug == "rollback-on-error" and row.method in vocab.SAFE_METHODS:
        out.append(Finding("warning", "rollback-on-safe", row.row, row.page,
                           f"{where}: rollback promised on a safe method, which changes nothing to roll back"))
    return out


def _operation_findings(op: Operation, catalogue: Catalogue) -> list[Finding]:
    out: list[Finding] = []
    by_slug: dict[str, list[Contract]] = {}
    for contract in op.contracts:
        by_slug.setdefault(contract.slug, []).append(contract)
    for variants in by_slug.values():
        if len(variants) > 1:
            labels = ", ".join(sorted(c.label("vi") for c in variants))
            first = op.rows[0]
            page = next((r.page for r in catalogue.rows if r.row == first), None)
            out.append(Finding("warning", "conflicting-parameters", first, page,
                               f"{op.label()}: rows {', '.join(map(str, op.rows))} promise {labels}; "
                               f"the strictest applies"))
    return out


def summary(findings: list[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts
