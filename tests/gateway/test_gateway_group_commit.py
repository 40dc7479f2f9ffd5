"""Group commit keeps every request's transaction its own: a request that fails inside a group
rolls back only its own writes, and no request is answered before its COMMIT is on disk."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from contextlib import closing

import httpx2
import pytest

from console.catalogue import Contract
from tests.support.broker import async_wait_until
from tests.support.gateway import fetch_token, make_catalogue
from tests.support.relay import gateway_process

pytestmark = pytest.mark.slow

OPERATIONS = [("/customer/update", "POST", "add-record", [Contract("kafka-event")])]
SECRET = "group-secret-3c9e71"


def _ids(db_path, sql: str) -> set[str]:
    with closing(sqlite3.connect(db_path)) as conn:
        return {row[0] for row in conn.execute(sql)}


async def test_a_failing_request_rolls_back_only_itself_and_the_rest_commit_together(gateway_factory):
    gw = gateway_factory(catalogue=make_catalogue(OPERATIONS))
    store = gw.gateway.store
    release = threading.Event()
    async with httpx2.AsyncClient(base_url=gw.base_url, timeout=30,
                                  headers={"Authorization": f"Bearer {fetch_token(gw)}"}) as client:

        def add(record_id: str, **headers: str):
            return client.post("/customer/update", params={"action": "add-record"},
                               json={"id": record_id, "name": "Ada"}, headers=headers)

        assert (await add("taken")).status_code == 201
        # Hold the database thread so the next requests queue up and go in ONE group commit.
        holder = asyncio.ensure_future(store.run(lambda _conn: release.wait(60)))
        try:
            await async_wait_until(lambda: store.queued == 0, message="the database thread to be held")
            groups = store.groups
            good = [f"good-{i}" for i in range(6)]
            calls = [asyncio.ensure_future(add(i)) for i in good[:3]]
            calls.append(asyncio.ensure_future(add("faulted", **{"X-Fault-After-Write": "true"})))
            calls.append(asyncio.ensure_future(add("taken")))  # refused inside the group: 409
            calls += [asyncio.ensure_future(add(i)) for i in good[3:]]
            await async_wait_until(lambda: store.queued == len(calls), timeout=30,
                                   message="every request to wait for the database")
        finally:
            release.set()
        await holder
        answers = await asyncio.gather(*calls)

    by_id = dict(zip([*good[:3], "faulted", "taken", *good[3:]], answers, strict=True))
    assert by_id["faulted"].status_code == 500 and by_id["faulted"].json()["rolled_back"] is True
    assert by_id["taken"].status_code == 409
    assert all(by_id[i].status_code == 201 for i in good), [(i, by_id[i].text) for i in good]
    assert _ids(gw.db_path, "SELECT id FROM records") == {"taken", *good}
    sent = {by_id[i].headers["x-event-id"] for i in good}
    events = _ids(gw.db_path, "SELECT event_id FROM outbox")
    assert sent <= events and len(events) == len(good) + 1  # none for the faulted or the refused
    assert store.groups == groups + 1  # they really shared one transaction


async def test_every_answered_write_survives_kill_9_right_after_its_201(tmp_path):
    db = tmp_path / "gateway.db"
    process, base_url, _output = gateway_process(db, tmp_path, SECRET)
    try:
        token = httpx2.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"},
                            auth=("apilog-sandbox", SECRET), timeout=10).json()["access_token"]
        answered: dict[str, httpx2.Response] = {}
        async with httpx2.AsyncClient(base_url=base_url, timeout=30,
                                      headers={"Authorization": f"Bearer {token}"}) as client:

            async def add(record_id: str) -> None:
                response = await client.post("/customer/update", params={"action": "add-record"},
                                             json={"id": record_id, "name": "Ada"},
                                             headers={"Idempotency-Key": str(uuid.uuid4())})
                if response.status_code == 201 and process.poll() is None:
                    process.kill()  # SIGKILL at the first 201: no shutdown, no flush
                answered[record_id] = response

            ids = [f"crash-{i}" for i in range(40)]
            await asyncio.gather(*(add(i) for i in ids), return_exceptions=True)
    finally:
        process.kill()
        process.wait(10)
    created = {i for i, r in answered.items() if r.status_code == 201}
    assert created, {i: r.status_code for i, r in answered.items()}
    assert created <= _ids(db, "SELECT id FROM records")
    events = _ids(db, "SELECT event_id FROM outbox")
    assert {answered[i].headers["x-event-id"] for i in created} <= events
