"""The plan, decided from the catalogue alone: what cannot apply, what the catalogue gets wrong,
where the expensive probes go, and bad --operation / --contract input."""

from __future__ import annotations

import pytest

from console.catalogue import Contract
from console.catalogue.lint import restful_defect
from console.conformance.plan import make_plan
from tests.support.gateway import make_catalogue


def by_key(plan):
    return {(*item.operation.key, item.slug): item for item in plan}


def test_every_operation_gets_oauth2_and_the_log_then_its_own_contracts(catalogue):
    plan = make_plan(catalogue)
    for op in catalogue.operations:
        slugs = [item.slug for item in plan if item.operation is op]
        assert slugs[:2] == ["oauth2", "transaction-log"]
        assert set(slugs[2:]) == op.slugs
    assert len(plan) == 2 * len(catalogue.operations) + sum(len(op.slugs) for op in catalogue.operations)


def test_rollback_on_a_safe_method_or_a_read_is_not_applicable(catalogue):
    plan = make_plan(catalogue, contracts=["rollback-on-error"])
    for item in plan:
        op = item.operation
        if op.is_safe or op.action in ("check-status", "export-data"):
            assert item.decided is not None and item.decided.verdict == "not-applicable", op.label()
            assert item.decided.reason
        else:
            assert item.decided is None, op.label()


def test_restful_rows_that_contradict_their_method_are_catalogue_defects(catalogue):
    plan = make_plan(catalogue, contracts=["restful"])
    defects = [item for item in plan if item.decided is not None]
    assert defects, "the shipped catalogue has RESTful rows that contradict their method"
    for item in plan:
        lint = restful_defect(item.operation)
        if lint:
            assert item.decided.verdict == "catalogue-defect"
            assert item.decided.reason == lint
        else:
            assert item.decided is None
    get_add = by_key(plan).get(("/invoice/export", "GET", "add-record", "restful"))
    assert get_add is not None and get_add.decided.verdict == "catalogue-defect"


def test_one_exhaustion_per_distinct_limit_preferring_reads_unless_thorough():
    def limit(n: int) -> Contract:
        return Contract("rate-limit", {"limit": n, "window_s": 60})

    catalogue = make_catalogue([
        ("/customer/update", "POST", "add-record", [limit(5)]),
        ("/customer/update", "GET", "check-status", [limit(5)]),
        ("/customer/update", "GET", "export-data", [limit(7)]),
    ])
    chosen = [item.operation.key for item in make_plan(catalogue) if item.exhaust]
    assert chosen == [("/customer/update", "GET", "check-status"), ("/customer/update", "GET", "export-data")]
    thorough = [item.operation.key for item in make_plan(catalogue, thorough=True) if item.exhaust]
    assert len(thorough) == 3


def test_parameters_come_from_the_catalogue_not_from_constants():
    catalogue = make_catalogue([("/customer/update", "GET", "check-status",
                                 [Contract("latency-sla", {"max_ms": 2000}), Contract("retry", {"max_retries": 5})])])
    plan = by_key(make_plan(catalogue))
    assert plan[("/customer/update", "GET", "check-status", "latency-sla")].contract.params["max_ms"] == 2000
    assert plan[("/customer/update", "GET", "check-status", "retry")].contract.params["max_retries"] == 5


def test_unknown_operation_or_contract_is_refused_naming_the_fix(catalogue):
    with pytest.raises(ValueError, match=r"--operation /customer/update GET nope: not in the catalogue \(catalogued actions"):
        make_plan(catalogue, operations=[("/customer/update", "GET", "nope")])
    with pytest.raises(ValueError, match=r"--contract speed: unknown contract; use one of oauth2"):
        make_plan(catalogue, contracts=["speed"])


def test_selection_keeps_only_the_named_operations_and_contracts(catalogue):
    plan = make_plan(catalogue, operations=[("/customer/update", "post", "add-record")], contracts=["oauth2"])
    assert [(item.operation.key, item.slug) for item in plan] == [
        (("/customer/update", "POST", "add-record"), "oauth2")]
