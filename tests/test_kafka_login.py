"""The refusals a broker other than Tansu sends (Kafka's SaslAuthenticate error, a mechanism it
does not offer), named as the real ones are; the end-to-end cases are in
tests/events/test_secured_kafka.py."""

from __future__ import annotations

import asyncio

from aiokafka.errors import (
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from console.kafka_login import describe, refusal

KWARGS = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
          "sasl_plain_username": "ops", "sasl_plain_password": "s3cret-pw"}


def test_kafkas_authentication_failure_names_the_user_and_not_the_password():
    line = describe(SaslAuthenticationFailed("Authentication failed during authentication due to "
                                             "invalid credentials with SASL mechanism SCRAM-SHA-256"),
                    "kafka-1:9093", KWARGS)
    assert line == ("Kafka SASL login refused for user 'ops' (SCRAM-SHA-256) at kafka-1:9093: check "
                    "the profile's kafka username and the password in its password_env variable")


def test_a_mechanism_the_broker_does_not_offer_names_the_profile_key():
    line = describe(UnsupportedSaslMechanismError("Kafka broker does not support SCRAM-SHA-256 sasl "
                                                  "mechanism. Enabled mechanisms are: ['PLAIN']"),
                    "kafka-1:9093", KWARGS)
    assert line is not None and "SASL mechanism SCRAM-SHA-256 not accepted" in line
    assert "sasl_mechanism" in line and "s3cret-pw" not in line


def test_an_unreachable_plaintext_broker_is_not_a_refusal():
    """Nothing secured to blame: the feed goes on retrying (the broker may come up)."""
    exc = KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9, 0)]")
    assert asyncio.run(refusal(exc, "127.0.0.1:9", {"security_protocol": "PLAINTEXT"})) is None


def test_a_secured_broker_that_is_down_is_not_a_refusal():
    """The probe finds nobody listening: retrying is right, the broker may come back."""
    import ssl

    from console.events.broker import free_port

    port = free_port()
    kwargs = {"security_protocol": "SSL", "ssl_context": ssl.create_default_context()}
    exc = KafkaConnectionError(f"Unable to bootstrap from [('127.0.0.1', {port}, 0)]")
    assert asyncio.run(refusal(exc, f"127.0.0.1:{port}", kwargs)) is None
