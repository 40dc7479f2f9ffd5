"""A full disk: the log says so in one line, a call is not sent unrecorded, and an answer that
came back is never lost to a log that cannot take it.

Two ways to fill the disk: SQLite's ``max_page_count`` (the file may not grow: SQLITE_FULL,
exactly what a full disk returns) for the fast tier, and a real 2 MiB tmpfs filled to the last
byte (root only; skipped elsewhere) for the slow one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from console.caller import Caller, CallerError, CallRequest
from console.caller.model import Attempt
from console.cli import main
from console.txlog import LogWriteFailed, TransactionLog, open_log
from tests.support.txlog import SmallDisk, small_catalogue
from tests.txlog.test_store import add, result

PATH = "/customer/update"
BIG_BODY = {"note": " ".join(f"w{i}" for i in range(12_000))}  # ~80 KB: needs pages of its own


def freeze_size(log: TransactionLog) -> None:
    """From now on the file may not grow by a page: every write that needs one fails as on a full disk."""
    with log._lock:
        pages = log.db.execute("PRAGMA page_count").fetchone()[0]
        log.db.execute(f"PRAGMA max_page_count = {pages}")


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def caller(profile, log) -> Caller:
    return Caller(profile, small_catalogue(), log, retry_base_s=0.01, rng=random.Random(7), origin="cli")


def test_a_write_that_does_not_fit_fails_whole_in_one_line(txlog):
    add(txlog)
    freeze_size(txlog)
    with pytest.raises(LogWriteFailed) as full:
        txlog.begin(method="POST", path=PATH, action="add-record", request_body=str(BIG_BODY))
    message = str(full.value)
    assert "\n" not in message and str(txlog.path) in message and "is full" in message
    assert "move the file aside" not in message, "a full disk is not a damaged file"
    assert txlog.count() == 1, "nothing of the failed write was kept"
    with txlog._lock:
        txlog.db.execute("PRAGMA max_page_count = 1073741823")
    add(txlog)
    assert txlog.count() == 2, "the log works again once there is room"


def test_an_outcome_that_does_not_fit_loses_its_final_attempt_too_and_nothing_before(txlog):
    tx = txlog.begin(method="POST", path=PATH, action="add-record")
    txlog.record_attempt(tx, Attempt(1, time.time(), 3.0, 503))
    freeze_size(txlog)
    with pytest.raises(LogWriteFailed):
        txlog.finish(tx, result(attempts=2, response_body=str(BIG_BODY)),
                     final_attempt=Attempt(2, time.time(), 4.0, 201))
    stored = txlog.get(tx)
    assert (stored.outcome, stored.attempt_count) == ("pending", 1), "no half-written end"
    assert [a.number for a in stored.attempts] == [1], "the attempt stored before is still there"


async def test_a_call_the_log_cannot_record_first_is_not_sent(mini_gateway, mini_profile, txlog):
    freeze_size(txlog)
    async with caller(mini_profile, txlog) as c:
        with pytest.raises(CallerError) as refused:
            await c.call(CallRequest(PATH, "POST", "add-record", body=BIG_BODY))
    message = str(refused.value)
    assert message.startswith(f"POST {PATH}?action=add-record was not sent") and "is full" in message
    assert mini_gateway.requests == [] and mini_gateway.records == []


async def test_an_answer_is_returned_with_a_warning_when_the_log_fills_during_the_call(
        mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, txlog) as c:
        call = asyncio.create_task(c.call(CallRequest(PATH, "POST", "add-record", body=BIG_BODY,
                                                      headers={"X-Fault-Delay-Ms": "1000"})))
        await until(lambda: len(mini_gateway.requests) == 1)
        freeze_size(txlog)  # the request is at the gateway, which answers in a second
        result = await call
    key = mini_gateway.requests[0]["headers"]["idempotency-key"]
    assert result.outcome == "committed" and len(mini_gateway.records) == 1
    assert result.log_warning is not None and "\n" not in result.log_warning
    assert "is full" in result.log_warning and f"Idempotency-Key: {key}" in result.log_warning
    assert txlog.get(result.transaction_id).outcome == "pending", "settled as interrupted by the next open"


@pytest.mark.slow
async def test_a_real_full_disk_stops_the_next_call_and_keeps_the_answer_of_the_current(
        small_disk: SmallDisk, mini_gateway, mini_profile):
    log = open_log(small_disk.root / "apilog" / "transactions.db")
    try:
        async with caller(mini_profile, log) as c:
            call = asyncio.create_task(c.call(CallRequest(PATH, "POST", "add-record", body=BIG_BODY,
                                                          headers={"X-Fault-Delay-Ms": "1000"})))
            await until(lambda: len(mini_gateway.requests) == 1)
            small_disk.fill()
            result = await call
            assert result.outcome == "committed" and "is full" in (result.log_warning or "")
            with pytest.raises(CallerError, match="was not sent.*is full"):
                await c.call(CallRequest(PATH, "POST", "add-record", body={"n": 2}))
        assert len(mini_gateway.requests) == 1
        small_disk.free()
        assert log.get(result.transaction_id).outcome == "pending"
    finally:
        log.close()


@pytest.mark.slow
def test_log_list_on_a_full_disk_says_the_disk_is_full(small_disk: SmallDisk, monkeypatch):
    data = small_disk.root / "apilog"
    monkeypatch.setenv("APILOG_DATA_DIR", str(data))
    with open_log(data / "transactions.db") as log:
        tx = add(log)
    small_disk.fill()
    listed = CliRunner().invoke(main, ["log", "list"])
    assert listed.exit_code == 1
    assert "is full" in listed.output and "move the file aside" not in listed.output
    assert listed.output.count("\n") == 1 and "Traceback" not in listed.output
    small_disk.free()
    listed = CliRunner().invoke(main, ["log", "list"])
    assert listed.exit_code == 0 and listed.output.startswith(tx)
