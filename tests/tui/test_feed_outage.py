"""The header and the Events view through a broker outage (a real Tansu broker, restarted)."""

from __future__ import annotations

import uuid

from tests.tui.conftest import screen_text, settle, wait_for


async def produce(bootstrap: str, topic: str, ids: list[str]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event_id in ids:
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", event_id.encode()),
                ("ce_source", b"/tests"),
                ("ce_type", b"apilog.outage.add-record"),
                ("content-type", b"application/json"),
            ]
            await producer.send_and_wait(topic, b'{"n": 1}', key=event_id.encode(), headers=headers)
    finally:
        await producer.stop()


async def test_outage_shows_down_then_resumes_with_the_gap_reported(
    make_app, gateway, private_broker, tmp_path, catalogue
):
    from console.config import Profile
    from console.session import Session

    profile = Profile(
        name="outage",
        base_url=gateway.base_url,
        token_url=gateway.token_url,
        client_id=gateway.client_id,
        client_secret=gateway.client_secret,
        kafka_bootstrap=private_broker.bootstrap,
    )
    app = make_app(
        session=Session(profile, catalogue, log_path=tmp_path / "tx.db", origin="console"),
        events_from="earliest",
        start_view="events",
    )
    topic = f"gateway.events.outage-{uuid.uuid4().hex[:8]}"
    before = [f"before-{n}" for n in range(3)]
    after = [f"after-{n}" for n in range(2)]
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.connection.kafka == "connected", message="feed up")
        await produce(private_broker.bootstrap, topic, before)
        view = app.screen
        await wait_for(
            pilot,
            lambda: {e.id for e in view.shown} >= set(before),
            message="the first events on screen",
        )
        private_broker.stop(timeout=1.0)
        await wait_for(
            pilot,
            lambda: app.connection.kafka == "down",
            timeout=30,
            message="the header to say the broker is down",
        )
        assert "kafka ✗ down" in screen_text(app)
        private_broker.start()
        await wait_for(
            pilot,
            lambda: app.connection.kafka == "connected",
            timeout=30,
            message="the feed to reconnect by itself",
        )
        await produce(private_broker.bootstrap, topic, after)
        await wait_for(
            pilot,
            lambda: {e.id for e in view.shown} >= set(after),
            timeout=30,
            message="the events produced after the restart",
        )
        ids = [e.id for e in view.shown]
        assert sorted(ids) == sorted(set(ids)), "an event was doubled"
        await wait_for(
            pilot,
            lambda: "⚠" in screen_text(app).splitlines()[1],
            timeout=10,
            message="the gap in the events summary",
        )
