"""Correlation retries and failure handling (a stand-in log: the real one is in test_e2e)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.events.correlate import Correlator
from console.events.decode import decode_record
from tests.events.conftest import ce_headers


class StandInLog:
    """Answers ``link_events`` like the transaction log: a tx id once the call is known; a
    failure fails the whole batch, as the log's one write transaction does."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}
        self.calls: list[tuple] = []
        self.fail = False

    def link_events(self, events):
        batch = [tuple(event) for event in events]
        self.calls.extend(batch)
        if self.fail:
            raise RuntimeError("database is locked")
        return [self.known.get(event_id) for event_id, *_ in batch]


def ce(offset: int, event_id: str, age_s: float = 0.0):
    when = (datetime.now(UTC) - timedelta(seconds=age_s)).isoformat()
    return decode_record("gateway.events.customer", 0, offset, 0, b"r1", b"{}",
                         ce_headers(event_id, time=when,
                                    traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"))


async def test_links_known_events_and_passes_what_the_log_needs():
    log = StandInLog()
    log.known["e-1"] = "tx-1"
    correlator = Correlator(log)
    try:
        raw = decode_record("t", 0, 9, 0, None, b"x", None)
        out = await correlator.link([ce(0, "e-1"), raw])
    finally:
        correlator.close()
    assert out[0].transaction_id == "tx-1" and out[1] is raw
    assert log.calls == [("e-1", "a" * 32, "gateway.events.customer", 0, 0, out[0].time)]


async def test_an_event_seen_before_its_call_is_linked_on_a_retry():
    log = StandInLog()
    correlator = Correlator(log, retry_delays=(0.0, 0.0))
    try:
        out = await correlator.link([ce(0, "e-early")])
        assert out[0].transaction_id is None and correlator.pending == 1
        log.known["e-early"] = "tx-7"
        linked = await correlator.retry_due()
    finally:
        correlator.close()
    assert [e.transaction_id for e in linked] == ["tx-7"] and correlator.pending == 0


async def test_retries_end_and_log_failures_never_raise():
    log = StandInLog()
    log.fail = True
    correlator = Correlator(log, retry_delays=(0.0,))
    try:
        await correlator.link([ce(0, "e-1")])
        assert await correlator.retry_due() == []
    finally:
        correlator.close()
    assert correlator.errors == 2 and "database is locked" in correlator.last_error
    assert correlator.pending == 0 and correlator.unmatched == 1


async def test_old_events_are_not_retried():
    log = StandInLog()
    correlator = Correlator(log, retry_delays=(0.0,), recent_s=30)
    try:
        await correlator.link([ce(0, "e-old", age_s=3600), ce(1, "e-new")])
    finally:
        correlator.close()
    assert correlator.pending == 1 and correlator.unmatched == 1 and correlator.checked == 2


async def test_an_event_is_asked_about_again_only_while_a_call_could_still_claim_it(tmp_path):
    """The real log: an event no call matches while none is under way is counted unmatched at
    once (no call can claim it later); one seen while a call is under way waits, and the
    call's finish claims it for the retry to find."""
    from console.txlog import TransactionLog
    from tests.txlog.test_store import result

    with TransactionLog(tmp_path / "tx.db") as log:
        correlator = Correlator(log, retry_delays=(0.0, 0.0))
        try:
            await correlator.link([ce(0, "e-someone-elses")])
            assert (correlator.pending, correlator.unmatched) == (0, 1)

            call = log.begin(method="PUT", path="/customer", action="add-record")
            out = await correlator.link([ce(1, "e-early")])
            assert out[0].transaction_id is None and correlator.pending == 1
            log.finish(call, result(event_id="e-early"))
            linked = await correlator.retry_due()
        finally:
            correlator.close()
    assert [event.transaction_id for event in linked] == [call]
    assert (correlator.pending, correlator.unmatched, correlator.linked) == (0, 1, 1)


async def test_a_closed_correlator_links_again_when_asked():
    log = StandInLog()
    log.known["e-1"] = "tx-1"
    correlator = Correlator(log)
    correlator.close()
    try:
        out = await correlator.link([ce(0, "e-1")])
    finally:
        correlator.close()
    assert out[0].transaction_id == "tx-1"


async def test_an_event_id_is_asked_and_counted_once_however_often_it_comes():
    log = StandInLog()
    log.known["e-1"] = "tx-1"
    correlator = Correlator(log, retry_delays=(0.0,))
    try:
        first = await correlator.link([ce(0, "e-1"), ce(1, "e-1"), ce(2, "e-2"), ce(3, "e-2")])
        again = await correlator.link([ce(7, "e-1"), ce(8, "e-2")])
        retried = await correlator.retry_due()
    finally:
        correlator.close()
    assert [e.transaction_id for e in first + again] == ["tx-1", "tx-1", None, None, "tx-1", None]
    assert [call[0] for call in log.calls] == ["e-1", "e-2", "e-2"]  # the last: e-2's one retry
    assert retried == [] and correlator.pending == 0
    assert (correlator.linked, correlator.unmatched) == (1, 1)


async def test_the_background_linker_links_every_submitted_event_in_order_while_the_log_lags():
    """Batches that queue up while the log is busy go to it together; each event is still
    asked about once, and every linked copy comes back, in the order submitted, before stop
    returns."""
    import asyncio
    import threading

    from console.events.correlate import BackgroundLinker

    log = StandInLog()
    log.known = {f"e-{i}": f"tx-{i}" for i in range(0, 60, 3)}
    gate = threading.Event()
    link_events = log.link_events
    sizes: list[int] = []

    def slow_link_events(events):
        gate.wait(10)  # the log is busy until every batch has been submitted
        found = link_events(events)
        sizes.append(len(found))
        return found

    log.link_events = slow_link_events
    correlator = Correlator(log)
    linked: list[str] = []
    linker = BackgroundLinker(correlator, lambda event: linked.append(event.id), max_batches=4)
    linker.start()
    events = [ce(i, f"e-{i}") for i in range(60)]
    submitting = asyncio.gather(*(linker.submit(events[i:i + 5]) for i in range(0, 60, 5)))
    await asyncio.sleep(0.05)
    gate.set()
    await submitting
    await linker.stop(10)
    correlator.close()
    assert sorted(event_id for event_id, *_ in log.calls) == sorted(e.id for e in events)
    assert len(log.calls) == 60  # each asked once
    assert linked == [f"e-{i}" for i in range(0, 60, 3)]
    assert max(sizes) > 5  # queued batches went to the log together


async def test_past_its_memory_the_correlator_forgets_the_ids_it_asked_about_first(monkeypatch):
    """Answers are kept for the last ID_MEMORY ids asked about: memory stays flat on a feed that
    runs for days, and an id asked about longest ago is asked again (the log answers it the
    same way), while a newer one is still answered from memory."""
    monkeypatch.setattr("console.events.correlate.ID_MEMORY", 3)
    log = StandInLog()
    log.known.update({"e-1": "tx-1", "e-5": "tx-5"})
    correlator = Correlator(log, retry_delays=())
    try:
        await correlator.link([ce(i, f"e-{i}") for i in range(1, 6)])
        assert len(correlator._answers) == 3
        again = await correlator.link([ce(6, "e-1"), ce(7, "e-5")])
    finally:
        correlator.close()
    assert [e.transaction_id for e in again] == ["tx-1", "tx-5"]
    assert [call[0] for call in log.calls] == ["e-1", "e-2", "e-3", "e-4", "e-5", "e-1"]


async def test_two_batches_asked_about_at_once_are_each_remembered_once(monkeypatch):
    """A batch is checked against what was learnt before the log is asked; a second batch asked
    meanwhile about the same id is answered by the log too, and the id is kept once: past the
    memory, the oldest id is the one forgotten and asked about again."""
    import asyncio

    monkeypatch.setattr("console.events.correlate.ID_MEMORY", 3)
    log = StandInLog()
    log.known.update({"e-2": "tx-2"})
    correlator = Correlator(log, retry_delays=())
    try:
        first, second = await asyncio.gather(correlator.link([ce(1, "e-1"), ce(2, "e-2")]),
                                             correlator.link([ce(3, "e-2"), ce(4, "e-3")]))
        await correlator.link([ce(5, "e-4")])  # four ids: e-1, asked about first, is forgotten
        remembered = await correlator.link([ce(6, "e-2")])
        forgotten = await correlator.link([ce(7, "e-1")])
    finally:
        correlator.close()
    assert [e.transaction_id for e in first + second] == [None, "tx-2", "tx-2", None]
    assert remembered[0].transaction_id == "tx-2" and forgotten[0].transaction_id is None
    assert [call[0] for call in log.calls] == ["e-1", "e-2", "e-2", "e-3", "e-4", "e-1"]
    assert (correlator.linked, correlator.unmatched) == (2, 4)
