"""Which checks a run makes, decided from the catalogue alone.

Before any call leaves, the plan settles what needs no gateway: the contracts that cannot apply
(rollback on a safe method or a read), the ``restful`` rows whose method contradicts their action
(catalogue defects, from the catalogue lint), and which operations carry the expensive probes —
exhausting a rate limit and overrunning a latency deadline — once per distinct parameter value,
or on every operation with ``thorough``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.catalogue import Catalogue, Contract, Operation
from console.catalogue import vocabulary as vocab
from console.conformance.verdict import (
    CATALOGUE_DEFECT,
    CONTRACT_SLUGS,
    EVERY_OPERATION,
    NOT_APPLICABLE,
    Verdict,
)


@dataclass
class PlannedCheck:
    """One (operation, contract) to decide; ``decided`` is set when the catalogue alone decides."""

    operation: Operation
    slug: str
    contract: Contract | None = None
    #: rate-limit: send limit+1 calls in one window on this operation.
    exhaust: bool = False
    #: latency-sla: delay past the deadline on this operation and expect 504.
    overrun: bool = False
    decided: Verdict | None = None


def contracts_of(op: Operation) -> list[str]:
    """The slugs checked on ``op``: OAuth2 and the log on every operation, then its own."""
    own = [slug for slug in CONTRACT_SLUGS if slug not in EVERY_OPERATION and op.has(slug)]
    return [*EVERY_OPERATION, *own]


def not_applicable_reason(op: Operation, slug: str) -> str | None:
    """Why ``slug`` cannot apply to ``op`` (docs/contracts.md), or None when it can be checked."""
    if slug == "rollback-on-error":
        if op.is_safe:
            return f"{op.method} is a safe method (RFC 9110 §9.2.1): nothing to roll back"
        if op.action in vocab.READ_ACTIONS:
            return f"{op.action} writes no data: nothing to roll back"
    return None


def catalogue_defect_reason(op: Operation, slug: str) -> str | None:
    """The catalogue lint's verdict on a ``restful`` row whose method contradicts its action."""
    if slug != "restful":
        return None
    from console.catalogue.lint import restful_defect

    return restful_defect(op)


def make_plan(
    catalogue: Catalogue,
    *,
    operations: Iterable[tuple[str, str, str]] | None = None,
    contracts: Iterable[str] | None = None,
    thorough: bool = False,
) -> list[PlannedCheck]:
    """Every check of the run, operations in catalogue order, contracts in column order.

    ``operations`` keeps only those (path, method, action); ``contracts`` only those slugs.
    Raises ValueError naming an operation or contract slug that the catalogue does not know.
    """
    chosen = select_operations(catalogue, operations)
    wanted = _validated_slugs(contracts)
    plan: list[PlannedCheck] = []
    for op in chosen:
        for slug in contracts_of(op):
            if wanted is not None and slug not in wanted:
                continue
            item = PlannedCheck(op, slug, op.contract(slug))
            reason = not_applicable_reason(op, slug)
            if reason:
                item.decided = _verdict(op, slug, NOT_APPLICABLE, reason)
            else:
                defect = catalogue_defect_reason(op, slug)
                if defect:
                    item.decided = _verdict(op, slug, CATALOGUE_DEFECT, defect)
            plan.append(item)
    _mark_expensive(plan, "rate-limit", ("limit", "window_s"), thorough, "exhaust")
    _mark_expensive(plan, "latency-sla", ("max_ms",), thorough, "overrun")
    return plan


def select_operations(catalogue: Catalogue,
                      operations: Iterable[tuple[str, str, str]] | None) -> list[Operation]:
    if operations is None:
        return list(catalogue.operations)
    chosen = []
    for path, method, action in operations:
        op = catalogue.operation(path, method, action)
        if op is None:
            known = ", ".join(sorted({o.action for o in catalogue.operations_for(path, method)}))
            hint = f"catalogued actions for {method.upper()} {path}: {known}" if known else \
                "see `apilog catalogue` for the catalogued operations"
            raise ValueError(f"--operation {path} {method} {action}: not in the catalogue ({hint})")
        if op not in chosen:
            chosen.append(op)
    return chosen


def _validated_slugs(contracts: Iterable[str] | None) -> set[str] | None:
    if contracts is None:
        return None
    wanted = set(contracts)
    unknown = sorted(wanted - set(CONTRACT_SLUGS))
    if unknown:
        raise ValueError(f"--contract {unknown[0]}: unknown contract; use one of "
                         + ", ".join(CONTRACT_SLUGS))
    return wanted


def _mark_expensive(plan: Sequence[PlannedCheck], slug: str, params: tuple[str, ...],
                    thorough: bool, flag: str) -> None:
    """Flag one operation per distinct parameter value (every one when ``thorough``)."""
    candidates = [p for p in plan if p.slug == slug and p.decided is None and p.contract]
    seen: set[tuple[object, ...]] = set()
    for item in sorted(candidates, key=lambda p: _cheapness(p.operation)):
        assert item.contract is not None
        value = tuple(item.contract.params.get(name) for name in params)
        if thorough or value not in seen:
            seen.add(value)
            setattr(item, flag, True)


def _cheapness(op: Operation) -> tuple[int, int, int]:
    """Prefer operations whose repeated calls change nothing and publish nothing."""
    writes = 0 if op.action in vocab.READ_ACTIONS else 1
    publishes = 1 if op.has("kafka-event") or op.has("full-log") else 0
    return writes, publishes, len(op.contracts)


def _verdict(op: Operation, slug: str, word: str, reason: str) -> Verdict:
    return Verdict(op.path, op.method, op.action, slug, word, reason)
