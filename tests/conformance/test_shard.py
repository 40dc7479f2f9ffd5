"""A large check shares its operations with a second process (console.conformance.shard).

Real gateway, real broker, real child process; ``SHARD_MIN_CHECKS`` is lowered so that the small
family catalogue is shared the way the shipped catalogue is.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from console.conformance import runner as runner_module
from console.conformance import shard as shard_module
from console.session import Session
from tests.support.gateway import TEST_CLIENT_SECRET


def shard_children() -> list[int]:
    """This process's children that run the shard."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and b"console.check_process" in (
                    stat.with_name("cmdline").read_bytes()):
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setattr(runner_module, "SHARD_MIN_CHECKS", 1)


async def run_check(target, log_path: Path, seen: list | None = None,
                    progress: list | None = None, **options):
    session = Session(target.profile(), target.catalogue, origin="check", log_path=log_path)

    def on_progress(done, total, verdict):
        if seen is not None:
            seen.extend(shard_children())
        if progress is not None:
            progress.append((done, total, verdict.key))

    async with session:
        verdicts = await session.check(allow_writes=True, allow_load=True,
                                       on_progress=on_progress, **options)
        return verdicts, list(session.check_notes)


async def test_a_shared_check_reaches_the_verdicts_of_one_process(
        broken_gateway, shared, tmp_path):
    target = broken_gateway()
    seen: list[int] = []
    progress: list[tuple] = []
    two, notes = await run_check(target, tmp_path / "two.db", seen, progress, processes=2)
    # A gateway of its own: the first run's burst spent this one's quota for up to a minute.
    one, _ = await run_check(broken_gateway(), tmp_path / "one.db", processes=1)
    assert seen, "a second checking process took part"
    assert notes == []
    # Progress heard of every verdict once, whichever process decided it.
    assert [done for done, _, _ in progress] == list(range(1, len(two) + 1))
    assert {total for _, total, _ in progress} == {len(two)}
    assert sorted(key for _, _, key in progress) == sorted(v.key for v in two)
    assert {v.key: v.verdict for v in two} == {v.key: v.verdict for v in one}
    assert all(v.verdict == "passed" for v in two)
    # Both processes wrote their calls to the one log the session names.
    from console.txlog import open_log

    log = open_log(tmp_path / "two.db")
    try:
        ids = {t for v in two for t in v.transaction_ids}
        assert ids and all(log.get(t) is not None for t in ids)
    finally:
        log.close()


async def test_a_second_process_that_dies_leaves_its_checks_to_the_first(
        broken_gateway, shared, tmp_path, monkeypatch):
    dying = tmp_path / "dying-python"
    dying.write_text("#!/bin/sh\necho 'cannot start: out of memory' >&2\nexit 3\n")
    dying.chmod(0o755)
    monkeypatch.setattr(shard_module, "PYTHON", str(dying))
    target = broken_gateway()
    verdicts, notes = await run_check(target, tmp_path / "tx.db",
                                      contracts=["oauth2", "transaction-log", "restful"])
    assert [v.verdict for v in verdicts] == ["passed"] * len(verdicts)
    assert len(verdicts) == len({v.key for v in verdicts}) >= 12
    assert len(notes) == 1
    assert "exited with status 3: cannot start: out of memory" in notes[0]
    assert "its remaining checks ran in this one" in notes[0]


async def test_a_cancelled_check_stops_its_second_process(broken_gateway, shared, tmp_path):
    target = broken_gateway()
    session = Session(target.profile(), target.catalogue, origin="check",
                      log_path=tmp_path / "tx.db")
    async with session:
        task = asyncio.ensure_future(session.check(allow_writes=True, allow_load=True))
        for _ in range(200):
            children = shard_children()
            if children:
                break
            await asyncio.sleep(0.05)
        assert children, "the second process started"
        # The client secret reaches it on a pipe, never on its command line or environment.
        for child in children:
            assert TEST_CLIENT_SECRET.encode() not in Path(f"/proc/{child}/cmdline").read_bytes()
            assert TEST_CLIENT_SECRET.encode() not in Path(f"/proc/{child}/environ").read_bytes()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert shard_children() == []
    for child in children:
        assert not Path(f"/proc/{child}").exists()


async def test_a_run_that_fails_on_this_side_stops_its_second_process(
        broken_gateway, shared, tmp_path, monkeypatch):
    """A lane that raised (the quota wait before a burst, when the gateway went away) ended the
    run while the second process went on checking in the background."""
    import httpx2

    from console.conformance.checks import rate_limit

    async def gateway_gone(_probe, _op, need=40):
        for _ in range(100):  # until the second process is at work
            if shard_children():
                break
            await asyncio.sleep(0.05)
        raise httpx2.ConnectError("connection refused")

    monkeypatch.setattr(rate_limit, "await_quota", gateway_gone)
    target = broken_gateway()
    session = Session(target.profile(), target.catalogue, origin="check",
                      log_path=tmp_path / "tx.db")
    async with session:
        with pytest.raises(httpx2.ConnectError):
            await session.check(allow_writes=True, allow_load=True)
        assert shard_children() == []
