"""A real call's event, end to end: reference gateway (uvicorn) → Tansu → feed → transaction log."""

from __future__ import annotations

import random

import pytest

from console.events.feed import EventFeed, event_matching
from tests.support.broker import async_wait_until

CATALOGUE_CSV = """\
row,page,path,method,action,result,policy,description
1,1,/crm/lead,POST,Thêm bản ghi,Thông báo sự kiện qua Kafka,Tích hợp với API Gateway,add
2,1,/crm/lead,GET,Kiểm tra trạng thái,Log đầy đủ,Hỗ trợ JSON và XML,status
"""


@pytest.fixture
def setup(gateway_factory, kafka_broker, tmp_path):
    from console.catalogue import load_catalogue
    from console.config import Profile
    from console.txlog import TransactionLog

    path = tmp_path / "catalogue.csv"
    path.write_text(CATALOGUE_CSV, encoding="utf-8")
    gw = gateway_factory(catalogue=str(path), faults=False, kafka_bootstrap=kafka_broker.bootstrap,
                         outbox_poll_s=0.05)
    profile = Profile(name="test", base_url=gw.base_url, token_url=gw.token_url,
                      client_id=gw.client_id, client_secret=gw.client_secret)
    log = TransactionLog(tmp_path / "tx.db")
    yield gw, profile, load_catalogue(path), log
    log.close()


async def test_a_calls_event_is_read_and_linked_to_its_transaction_both_ways(setup, kafka_broker):
    from console.caller import Caller, CallRequest
    from console.catalogue.vocabulary import domain_of

    gw, profile, catalogue, log = setup
    feed = EventFeed(kafka_broker.bootstrap, start="latest", txlog=log)
    async with feed:
        await async_wait_until(lambda: feed.status.state == "connected", 10, message="feed up")
        async with Caller(profile, catalogue, log, retry_base_s=0.01,
                          rng=random.Random(1)) as caller:
            result = await caller.call(CallRequest("/crm/lead", "POST", "add-record",
                                                   body={"name": "Lan"}))
        assert result.outcome == "committed" and result.event_id, result.response_body
        event = await feed.wait_for(event_matching(event_id=result.event_id), 20)
        assert event is not None, "the call's event never reached the feed"
        linked = await async_wait_until(
            lambda: feed.buffer.find(lambda e: e.id == result.event_id and e.transaction_id),
            15, message="the event linked to its transaction")
    domain = domain_of("/crm/lead")
    assert event.mode == "binary" and event.type == f"apilog.{domain}.add-record"
    assert event.topic == f"gateway.events.{domain}" and event.trace_id == result.trace_id
    assert linked.transaction_id == result.transaction_id
    tx = log.get(result.transaction_id)
    assert [e.event_id for e in tx.events] == [result.event_id]
    link = tx.events[0]
    assert (link.topic, link.partition, link.offset) == event.position
    assert link.delay_ms is not None and -1_000 < link.delay_ms < 10_000
