"""Idempotency keys survive a crash with their write, see the whole query, and stay bounded."""

from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import closing

import httpx2
import pytest

from console.catalogue import Contract
from tests.support.broker import wait_until
from tests.support.gateway import fetch_token, make_catalogue
from tests.support.relay import gateway_process

pytestmark = pytest.mark.slow

SECRET = "idem-secret-5a1f0c"
OPERATIONS = [("/customer/update", "POST", "add-record", [Contract("retry")])]


def _rows(db_path, sql, *args):
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, args).fetchall()


def _start(db_path, data_dir):
    process, base_url, _output = gateway_process(db_path, data_dir, SECRET)
    return process, base_url


def _token(base_url: str) -> str:
    response = httpx2.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=("apilog-sandbox", SECRET), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _add(base_url: str, key: str, body: dict) -> httpx2.Response:
    return httpx2.post(f"{base_url}/customer/update", params={"action": "add-record"}, json=body,
                       headers={"Authorization": f"Bearer {_token(base_url)}", "Idempotency-Key": key,
                                "Accept": "application/json"}, timeout=10)


def test_a_key_survives_kill_9_with_its_write(tmp_path):
    db = tmp_path / "gateway.db"
    key = str(uuid.uuid4())
    process, base_url = _start(db, tmp_path)
    try:
        first = _add(base_url, key, {"name": "Ada"})
        assert first.status_code == 201
    finally:
        process.kill()  # SIGKILL: no shutdown, no flush beyond what SQLite committed
        process.wait(10)
    process, base_url = _start(db, tmp_path)
    try:
        again = _add(base_url, key, {"name": "Ada"})
    finally:
        process.kill()
        process.wait(10)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["x-transaction-id"] == first.headers["x-transaction-id"]
    assert _rows(db, "SELECT COUNT(*) FROM records WHERE domain = 'customer'") == [(1,)]


@pytest.fixture
def gw_client(gateway_factory):
    def start(**settings):
        gw = gateway_factory(catalogue=make_catalogue(OPERATIONS), **settings)
        client = httpx2.Client(base_url=gw.base_url, timeout=10,
                               headers={"Authorization": f"Bearer {fetch_token(gw)}"})
        return gw, client
    return start


def _post(client, key, params=None, body=None):
    return client.post("/customer/update", params={"action": "add-record", **(params or {})},
                       json=body or {}, headers={"Idempotency-Key": key})


def test_same_key_with_another_query_is_422_and_query_order_does_not_matter(gw_client):
    gw, client = gw_client()
    key = str(uuid.uuid4())
    with client:
        first = _post(client, key, {"id": "A"})
        assert first.status_code == 201
        other = _post(client, key, {"id": "B"})
        assert other.status_code == 422
        assert other.headers["content-type"] == "application/problem+json"
        assert "query" in other.json()["detail"]
        reordered = client.post(f"{gw.base_url}/customer/update?id=A&action=add-record", json={},
                                headers={"Idempotency-Key": key})
        assert reordered.status_code == 201 and reordered.headers["idempotent-replayed"] == "true"
    assert [r[0] for r in _rows(gw.db_path, "SELECT id FROM records")] == ["A"]


def _stored_keys(db_path) -> list[str]:
    return [r[0].rsplit("|", 1)[1] for r in _rows(db_path, "SELECT scope FROM idempotency ORDER BY created_at")]


def test_keys_are_bounded_by_count(gw_client):
    gw, client = gw_client(idempotency_max_keys=3)
    keys = [f"count-{i}" for i in range(5)]
    with client:
        for k in keys:
            assert _post(client, k).status_code == 201
        assert _stored_keys(gw.db_path) == keys[2:]
        assert "idempotent-replayed" in _post(client, keys[4]).headers
        evicted = _post(client, keys[0])
    assert evicted.status_code == 201 and "idempotent-replayed" not in evicted.headers
    assert _rows(gw.db_path, "SELECT COUNT(*) FROM records") == [(6,)]  # the evicted key ran again


def test_keys_are_bounded_by_bytes(gw_client):
    gw, client = gw_client(idempotency_max_bytes=4000)
    with client:
        for i in range(6):
            assert _post(client, f"bytes-{i}", body={"note": "n" * 900}).status_code == 201
    kept = _rows(gw.db_path, "SELECT SUM(size), COUNT(*) FROM idempotency")[0]
    assert kept[0] <= 4000 and 1 <= kept[1] < 6
    assert _stored_keys(gw.db_path)[-1] == "bytes-5"  # the oldest went first


def test_keys_expire_by_age(gw_client):
    gw, client = gw_client(idempotency_ttl_s=1)
    with client:
        assert _post(client, "aged").status_code == 201
        assert _post(client, "other").status_code == 201
        created = _rows(gw.db_path, "SELECT MAX(created_at) FROM idempotency")[0][0]
        wait_until(lambda: time.time() - created > 1.05, timeout=5, message="the keys to pass their age")
        again = _post(client, "aged")
        assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert _rows(gw.db_path, "SELECT COUNT(*) FROM records") == [(3,)]
    assert _stored_keys(gw.db_path) == ["aged"]  # "other" was dropped for its age
