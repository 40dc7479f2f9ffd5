"""The console's feed on a secured profile: connected over real TLS, and a refused SCRAM login
shown once in the header and the overview, with the feed stopped rather than retrying
(tests/support/secure_kafka.py; docs/events.md, "Secured Kafka")."""

from __future__ import annotations

from console.config import KafkaSecurity, Profile
from console.session import Session
from tests.tui.conftest import screen_text, settle, wait_for


def session_on(gateway, bootstrap: str, security: KafkaSecurity, tmp_path) -> Session:
    """The test run's gateway, with its events read from the secured broker instead."""
    profile = Profile(name="secured", base_url=gateway.base_url, token_url=gateway.token_url,
                      client_id=gateway.client_id, client_secret=gateway.client_secret,
                      kafka_bootstrap=bootstrap, kafka_security=security)
    return Session(profile, gateway.catalogue, log_path=tmp_path / "tx.db", origin="console")


async def test_the_console_feed_connects_over_tls(make_app, gateway, tls_kafka, pki, tmp_path):
    security = KafkaSecurity(security_protocol="SSL", ssl_cafile=str(pki.ca_file))
    app = make_app(session=session_on(gateway, tls_kafka.bootstrap, security, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.connection.kafka == "connected", timeout=30,
                       message="the feed to connect over TLS")
        assert "kafka ● connected" in screen_text(app)
    assert tls_kafka.terminator is not None and tls_kafka.terminator.handshakes >= 1


async def test_a_refused_login_is_shown_and_not_retried(make_app, gateway, sasl_kafka, pki, tmp_path):
    security = KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                             username="ops", password="not-the-password-4711",
                             ssl_cafile=str(pki.ca_file))
    app = make_app(session=session_on(gateway, sasl_kafka.bootstrap, security, tmp_path),
                   start_view="overview")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.connection.kafka == "down", timeout=30,
                       message="the header to say the feed is down")
        assert app.connection.kafka_error == (
            f"Kafka SASL login refused for user 'ops' (SCRAM-SHA-512) at {sasl_kafka.bootstrap}: "
            "check the profile's kafka username and the password in its password_env variable")
        feed = app.runtime.feed
        await wait_for(pilot, lambda: feed._task is None or feed._task.done(),
                       message="the feed to stop instead of retrying")
        assert feed.status.refused
        await pilot.pause()
        assert "Kafka SASL login refused for user 'ops'" in screen_text(app)
        assert "not-the-password-4711" not in screen_text(app)
    assert sasl_kafka.terminator is not None and sasl_kafka.terminator.connections <= 3
