"""Issue 7's bar: the whole shipped catalogue against the reference gateway — every contract
passed, not applicable or a catalogue defect, none failed."""

from __future__ import annotations


async def test_nothing_fails_over_the_shipped_catalogue(broken_gateway, check, catalogue):
    target = broken_gateway(catalogue)
    verdicts = await check(target)
    failed = [f"{v.operation_label} {v.contract}: {v.reason}" for v in verdicts.values()
              if v.verdict == "failed"]
    assert not failed, f"{len(failed)} failed, e.g. {failed[:3]}"
    assert {v.verdict for v in verdicts.values()} == {"passed", "not-applicable", "catalogue-defect"}
    assert sum(v.verdict == "catalogue-defect" for v in verdicts.values()) == 30
    assert len(verdicts) == 2 * len(catalogue.operations) + sum(len(op.slugs) for op in catalogue.operations)
    unserved = [v for v in verdicts.values() if v.contract == "restful" and v.verdict == "passed"]
    assert unserved and all("405 + Allow for TRACE" in v.reason for v in unserved), \
        "every path serves all five methods, so the 405 probe is TRACE"
