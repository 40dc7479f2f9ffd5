"""kafka-event and rollback-on-error over real HTTP and a real broker; Kafka outage and recovery."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from contextlib import closing

import httpx2
import pytest

from tests.support.broker import async_wait_until
from tests.support.gateway import collect_events, outbox_pending


@pytest.fixture
async def client(gateway):
    from tests.support.gateway import fetch_token

    token = fetch_token(gateway)
    async with httpx2.AsyncClient(base_url=gateway.base_url, timeout=10,
                                  headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _rows(db_path, sql, *args):
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, args).fetchall()


async def test_write_publishes_a_cloudevent_in_binary_mode(gateway, client):
    from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

    record_id = f"fw-{uuid.uuid4().hex[:10]}"
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    response = await client.put("/security/firewall/config", params={"action": "add-record"},
                                json={"id": record_id, "rule": "allow 443"},
                                headers={"traceparent": traceparent})
    assert response.status_code == 201
    event_id = response.headers["x-event-id"]
    found = await collect_events(gateway.kafka_bootstrap, "gateway.events.firewall", [event_id])
    record = found[event_id]
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "apilog.firewall.add-record"
    assert headers["ce_subject"] == record_id
    assert headers["ce_traceparent"] == traceparent
    assert headers["content-type"] == "application/json"
    assert headers["ce_source"].endswith("/security/firewall/config")
    assert record.key == record_id.encode()
    event = from_kafka_event(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value))
    assert event.get_id() == event_id and event.get_subject() == record_id
    data = json.loads(record.value)
    assert data["record"]["fields"] == {"rule": "allow 443"}
    assert data["transaction_id"] == response.headers["x-transaction-id"]


async def test_read_with_kafka_event_contract_publishes_a_read_event(gateway, client):
    response = await client.put("/crm/lead/import", params={"action": "check-status"})  # json-xml, kafka-event
    assert response.status_code == 200
    event_id = response.headers["x-event-id"]
    found = await collect_events(gateway.kafka_bootstrap, "gateway.events.crm-lead", [event_id])
    headers = {k: v.decode() for k, v in found[event_id].headers}
    assert headers["ce_type"] == "apilog.crm-lead.check-status"


async def test_read_without_the_contract_publishes_nothing(client):
    response = await client.put("/ivr/callflow", params={"action": "check-status"})  # json-xml, rollback
    assert response.status_code == 200
    assert "x-event-id" not in response.headers


async def test_fault_after_write_rolls_back_data_and_event(gateway, client):
    record_id = f"cust-{uuid.uuid4().hex[:10]}"
    # PATCH /customer/update add-record: rollback-on-error, rate-limit
    failed = await client.patch("/customer/update", params={"action": "add-record"},
                                json={"id": record_id, "name": "Ada"}, headers={"X-Fault-After-Write": "true"})
    assert failed.status_code == 500
    problem = failed.json()
    assert failed.headers["content-type"] == "application/problem+json"
    assert problem["rolled_back"] is True and problem["transaction_id"]
    assert "x-event-id" not in failed.headers
    assert _rows(gateway.db_path, "SELECT * FROM records WHERE id = ?", record_id) == []
    assert _rows(gateway.db_path, "SELECT * FROM outbox WHERE value LIKE ?", f"%{problem['transaction_id']}%") == []
    status = await client.get("/customer/update", params={"action": "check-status", "id": record_id},
                              headers={"Accept": "application/json"})
    assert status.status_code == 404
    # The same request without the fault commits, and its event (a marker) arrives; the rolled
    # back transaction's event is not in the topic before it.
    ok = await client.patch("/customer/update", params={"action": "add-record"}, json={"id": record_id})
    assert ok.status_code == 201
    marker = ok.headers["x-event-id"]
    found = await collect_events(gateway.kafka_bootstrap, "gateway.events.customer", [marker])
    assert all(problem["transaction_id"].encode() not in r.value for r in found.values())
    log = await client.get(f"/admin/log/{failed.headers['x-request-id']}")
    assert log.json()["outcome"] == "rolled_back"
    assert log.json()["transaction_id"] == problem["transaction_id"]


async def test_update_config_rollback_keeps_old_config(gateway, client):
    # POST /crm/lead/import update-config: json-xml, kafka-event, restful, rollback-on-error
    key = f"k{uuid.uuid4().hex[:6]}"
    assert (await client.post("/crm/lead/import", params={"action": "update-config"},
                              json={key: "before"})).status_code == 200
    failed = await client.post("/crm/lead/import", params={"action": "update-config"},
                               json={key: "after"}, headers={"X-Fault-After-Write": "true"})
    assert failed.status_code == 500 and failed.json()["rolled_back"] is True
    value = _rows(gateway.db_path, "SELECT value FROM config WHERE domain = 'crm-lead' AND key = ?", key)
    assert value == [('"before"',)]


async def test_a_fresh_gateway_creates_its_topics_before_the_first_write(private_broker, gateway_factory):
    """A consumer started beside a new gateway finds every catalogue topic at its first look.

    It used to find a topic only after the first write to that domain had created it, and then
    at its next refresh of the topic list: the first events of every domain waited for that.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    from tests.support.gateway import make_catalogue

    operations = [("/security/firewall/config", "PUT", "add-record", []),
                  ("/customer/update", "POST", "add-record", []),
                  ("/ivr/callflow", "GET", "check-status", [])]
    gw = gateway_factory(catalogue=make_catalogue(operations), kafka_bootstrap=private_broker.bootstrap)
    wanted = {"gateway.events.firewall", "gateway.events.customer", "gateway.events.ivr"}
    admin = AIOKafkaAdminClient(bootstrap_servers=private_broker.bootstrap, request_timeout_ms=5000)
    await admin.start()
    found: set[str] = set()
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not wanted <= found and asyncio.get_running_loop().time() < deadline:
            found = set(await admin.list_topics())
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    assert wanted <= found, f"the gateway did not create {sorted(wanted - found)} within 20 s"
    assert found == wanted  # only the catalogue's topics, one per domain
    assert _rows(gw.db_path, "SELECT COUNT(*) FROM outbox") == [(0,)]  # nothing was written


async def test_kafka_outage_keeps_serving_and_delivers_everything_after(private_broker, gateway_factory):
    from tests.support.gateway import fetch_token

    gw = gateway_factory(kafka_bootstrap=private_broker.bootstrap, outbox_poll_s=0.1)
    token = fetch_token(gw)
    async with httpx2.AsyncClient(base_url=gw.base_url, timeout=10,
                                  headers={"Authorization": f"Bearer {token}"}) as client:
        first = await client.put("/security/firewall/config", params={"action": "add-record"}, json={})
        await collect_events(private_broker.bootstrap, "gateway.events.firewall", [first.headers["x-event-id"]])
        private_broker.stop()
        during = []
        for i in range(20):
            response = await client.put("/security/firewall/config", params={"action": "add-record"},
                                        json={"n": i})
            assert response.status_code == 201  # serving does not wait for Kafka
            during.append(response.headers["x-event-id"])
        assert outbox_pending(gw.db_path) >= 1
        health = (await client.get("/healthz")).json()
        assert health["kafka"]["pending"] >= 1
        private_broker.start()  # same port; memory storage starts empty
        await async_wait_until(lambda: outbox_pending(gw.db_path) == 0, timeout=30,
                               message="the outbox to drain after the broker came back")
        found = await collect_events(private_broker.bootstrap, "gateway.events.firewall", during)
    assert set(during) <= found.keys()


async def test_gateway_starts_and_serves_while_kafka_is_not_there_yet(gateway_factory, tmp_path):
    from console.events.broker import EmbeddedBroker, free_port
    from tests.support.gateway import fetch_token

    port = free_port()
    gw = gateway_factory(kafka_bootstrap=f"127.0.0.1:{port}", outbox_poll_s=0.1)
    token = fetch_token(gw)
    async with httpx2.AsyncClient(base_url=gw.base_url, timeout=10,
                                  headers={"Authorization": f"Bearer {token}"}) as client:
        added = await client.put("/security/firewall/config", params={"action": "add-record"}, json={})
        assert added.status_code == 201
        event_id = added.headers["x-event-id"]

        await async_wait_until(lambda: httpx2.get(f"{gw.base_url}/healthz").json()["kafka"]["last_error"],
                               message="the relay to report that Kafka is unreachable")
        assert outbox_pending(gw.db_path) == 1
        with EmbeddedBroker(port=port, log_path=tmp_path / "late.log") as broker:
            await async_wait_until(lambda: outbox_pending(gw.db_path) == 0, timeout=30,
                                   message="the outbox to drain once the broker appeared")
            await collect_events(broker.bootstrap, "gateway.events.firewall", [event_id])
