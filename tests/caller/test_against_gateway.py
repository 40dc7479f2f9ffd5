"""The issue's "done when", against the real reference gateway (uvicorn, faults on).

The catalogue is written as printed text ("Giới hạn rate-limit 5 req/min", "Retry tối đa 2
lần") so the numbers come from the wording, as they would for another catalogue.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.caller import Caller, CallRequest
from console.catalogue import load_catalogue
from console.config import Profile
from console.txlog import TransactionLog
from tests.support.broker import wait_until
from tests.support.txlog import db_bytes

PATH = "/customer/update"
CATALOGUE_CSV = """\
row,page,path,method,action,result,policy,description
1,1,/customer/update,POST,Thêm bản ghi,Retry tối đa 2 lần,Tích hợp với API Gateway,add
2,1,/customer/update,DELETE,Xóa thông tin,Rollback khi lỗi,Theo chuẩn RESTful,delete
3,1,/customer/update,PATCH,Cập nhật cấu hình,Log đầy đủ,Giới hạn rate-limit 5 req/min,config
4,1,/customer/update,GET,Kiểm tra trạng thái,Log đầy đủ,Hỗ trợ JSON và XML,status
5,2,/customer/update,GET,Export dữ liệu,Retry tối đa 2 lần,Theo chuẩn RESTful,export
"""


@pytest.fixture
def catalogue_file(tmp_path) -> Path:
    path = tmp_path / "small.csv"
    path.write_text(CATALOGUE_CSV, encoding="utf-8")
    return path


@pytest.fixture
def gw(gateway_factory, catalogue_file):
    return gateway_factory(catalogue=str(catalogue_file), faults=True)


@pytest.fixture
def setup(gw, catalogue_file, tmp_path):
    catalogue = load_catalogue(catalogue_file)
    profile = Profile(name="test", base_url=gw.base_url, token_url=gw.token_url,
                      client_id=gw.client_id, client_secret=gw.client_secret)
    log = TransactionLog(tmp_path / "tx.db")
    yield profile, catalogue, log
    log.close()


def caller(setup, **kwargs) -> Caller:
    profile, catalogue, log = setup
    return Caller(profile, catalogue, log, retry_base_s=0.01, rng=random.Random(3), **kwargs)


def records(gw) -> int:
    with sqlite3.connect(gw.db_path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        table = next(t for t in tables if "record" in t)
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def test_two_transient_failures_then_one_commit(gw, setup):
    before = records(gw)
    async with caller(setup) as c:
        result = await c.call(CallRequest(PATH, "POST", "add-record", body={"name": "An"},
                                          headers={"X-Fault-Fail-Attempts": "2"}))
    assert result.outcome == "committed", result.response_body
    assert [a.status for a in result.attempts] == [503, 503, 201]
    assert records(gw) == before + 1, "exactly one record created"
    assert result.event_id and setup[2].get(result.transaction_id).event_id == result.event_id


async def test_every_attempt_failing_is_retries_exhausted(gw, setup):
    async with caller(setup) as c:
        result = await c.call(CallRequest(PATH, "GET", "export-data",
                                          headers={"X-Fault-Fail-Attempts": "50"}))
    assert result.outcome == "retries_exhausted"
    assert len(result.attempts) == 3 and {a.status for a in result.attempts} == {503}


async def test_fault_after_write_is_rolled_back(gw, setup):
    async with caller(setup) as c:
        added = await c.call(CallRequest(PATH, "POST", "add-record", body={"name": "B"}))
        record_id = (added.response_headers.get("location") or "").rsplit("=", 1)[-1] or None
        result = await c.call(CallRequest(PATH, "DELETE", "delete-info", record_id=record_id,
                                          headers={"X-Fault-After-Write": "true"}))
    assert result.outcome == "rolled_back" and result.rolled_back and result.status == 500
    assert setup[2].get(result.transaction_id).rolled_back


async def test_burst_over_the_limit_is_rate_limited(gw, setup):
    async with caller(setup) as c:
        budgeted = await asyncio.gather(*[c.call(CallRequest(PATH, "PATCH", "update-config",
                                                             body={"k": str(i)})) for i in range(7)])
    assert sorted(r.outcome for r in budgeted) == ["committed"] * 5 + ["rate_limited"] * 2
    assert all(r.attempts == [] for r in budgeted if r.outcome == "rate_limited")
    async with caller(setup, use_budget=False) as c:
        result = await c.call(CallRequest(PATH, "PATCH", "update-config", body={"k": "x"}))
    assert result.outcome == "rate_limited" and result.status == 429, "the gateway agrees"
    assert setup[2].count(outcome="rate_limited") == 3


async def test_read_is_ok_in_xml_and_secrets_stay_out_of_the_file(gw, setup, tmp_path):
    async with caller(setup) as c:
        result = await c.call(CallRequest(PATH, "GET", "check-status", fmt="xml"))
        token = c._client.token["access_token"]
    assert result.outcome == "ok" and result.response_headers["content-type"].startswith("application/xml")
    data = db_bytes(tmp_path / "tx.db")
    assert gw.client_secret.encode() not in data and token.encode() not in data
    assert token.split(".")[1].encode() not in data


def test_sigkill_mid_call_leaves_a_row_marked_interrupted_on_next_open(gw, catalogue_file, tmp_path):
    env = {**os.environ, "APILOG_BASE_URL": gw.base_url, "APILOG_TOKEN_URL": gw.token_url,
           "APILOG_CLIENT_ID": gw.client_id, "APILOG_CLIENT_SECRET": gw.client_secret,
           "APILOG_DATA_DIR": str(tmp_path / "data")}
    child = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--catalogue", str(catalogue_file), "call", PATH,
         "POST", "add-record", "--body", '{"name": "slow"}', "-H", "X-Fault-Delay-Ms: 20000"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "data" / "transactions.db"

    def pending_attempt_in_flight() -> bool:
        if not db.exists():
            return False
        with sqlite3.connect(db) as conn:
            try:
                rows = conn.execute("SELECT outcome FROM transactions").fetchall()
            except sqlite3.OperationalError:
                return False
        return rows == [("pending",)] and _gateway_busy(gw)

    try:
        wait_until(pending_attempt_in_flight, timeout=20, message="the call to be on the wire")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    log = TransactionLog(db)
    [tx] = log.query()
    assert tx.outcome == "interrupted" and f"process {child.pid}" in tx.error
    log.close()


def _gateway_busy(gw) -> bool:
    """The gateway holds an open connection (the call sits in its injected delay).

    Reads uvicorn's server state through the gateway server's private ``_server``; if that
    ever moves, the pending row alone (written before the first byte) still gates the kill.
    """
    state = getattr(getattr(gw.server, "_server", None), "server_state", None)
    return state is None or bool(state.connections)


def test_ctrl_c_mid_call_is_recorded_interrupted_without_a_traceback(gw, catalogue_file, tmp_path):
    env = {**os.environ, "APILOG_BASE_URL": gw.base_url, "APILOG_TOKEN_URL": gw.token_url,
           "APILOG_CLIENT_ID": gw.client_id, "APILOG_CLIENT_SECRET": gw.client_secret,
           "APILOG_DATA_DIR": str(tmp_path / "data")}
    child = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--catalogue", str(catalogue_file), "call", PATH,
         "GET", "check-status", "-H", "X-Fault-Delay-Ms: 20000"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "data" / "transactions.db"

    def in_flight() -> bool:
        if not db.exists():
            return False
        with sqlite3.connect(db) as conn:
            try:
                return conn.execute("SELECT count(*) FROM transactions").fetchone()[0] == 1
            except sqlite3.OperationalError:
                return False

    try:
        wait_until(lambda: in_flight() and _gateway_busy(gw), timeout=20, message="the call in flight")
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130 and "Traceback" not in stderr
    log = TransactionLog(db)
    [tx] = log.query()
    assert tx.outcome == "interrupted" and "abandoned" in tx.error
    log.close()


async def test_the_calls_kafka_event_links_back_to_its_transaction(gateway, catalogue, tmp_path):
    from tests.support.gateway import collect_events

    profile = Profile(name="session", base_url=gateway.base_url, token_url=gateway.token_url,
                      client_id=gateway.client_id, client_secret=gateway.client_secret)
    log = TransactionLog(tmp_path / "linked.db")
    async with Caller(profile, catalogue, log, retry_base_s=0.01) as c:
        result = await c.call(CallRequest("/rpa/task/execute", "PATCH", "add-record",
                                          body={"task": "nightly"}))
    assert result.outcome == "committed" and result.event_id
    found = await collect_events(gateway.kafka_bootstrap, "gateway.events.rpa-task", [result.event_id])
    record = found[result.event_id]
    headers = {k: v.decode() for k, v in record.headers}
    trace = headers.get("ce_traceparent", "").split("-")
    assert trace[1] == result.trace_id, "the event carries the call's trace"
    linked = log.link_event(result.event_id, trace[1], record.topic, record.partition,
                            record.offset, record.timestamp)
    assert linked == result.transaction_id
    [event] = log.get(result.transaction_id).events
    assert event.topic == "gateway.events.rpa-task" and event.delay_ms is not None
    log.close()
