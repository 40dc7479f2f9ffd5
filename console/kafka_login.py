"""Why a secured Kafka connection failed, when retrying cannot help: a refused login or a
certificate the profile does not trust.

aiokafka hides both. While bootstrapping it logs the cause and raises a bare "Unable to
bootstrap", and a SCRAM exchange the broker ends with an error (``e=unknown-user``,
``e=invalid-proof``) surfaces as ``KeyError('v')`` (aiokafka 0.14). So after a failure on a
profile with TLS or SASL, :func:`refusal` makes one connection of its own with the same settings
and, when the cause is one of those, names it in one line with the profile key to fix; the feed
then stops instead of retrying the same refusal every few seconds (docs/events.md, "Secured
Kafka").
"""

from __future__ import annotations

import asyncio
import ssl
import traceback
from collections.abc import Mapping
from typing import Any

# aiokafka is imported in the functions: the feed imports this module, and the console's first
# frame does not pay for aiokafka (64 ms here, python -X importtime -c "import aiokafka").


def _first_host(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host.strip("[]") or first, int(port or 9092)


def _scram_refused(exc: BaseException) -> bool:
    """aiokafka's SCRAM client reading a server-final message that carries ``e=`` instead of ``v=``."""
    if not isinstance(exc, KeyError):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].name == "process_server_final_message"


def describe(exc: BaseException, where: str, kafka_kwargs: Mapping[str, Any]) -> str | None:
    """One line for a TLS or SASL failure that retrying cannot fix, or None for anything else.

    The cause comes first: the console's overview shows the first 60 characters."""
    from aiokafka.errors import (
        IllegalSaslStateError,
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    )

    mechanism = kafka_kwargs.get("sasl_mechanism") or "PLAIN"
    if isinstance(exc, SaslAuthenticationFailed | IllegalSaslStateError) or _scram_refused(exc):
        user = kafka_kwargs.get("sasl_plain_username")
        return (f"Kafka SASL login refused for user {user!r} ({mechanism}) at {where}: check the "
                "profile's kafka username and the password in its password_env variable")
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (f"Kafka SASL mechanism {mechanism} not accepted at {where}: set the profile's kafka "
                "sasl_mechanism to one the broker offers (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"Kafka TLS certificate not trusted at {where} ({exc.verify_message}): set the "
                "profile's kafka ssl_cafile to the CA that signed the broker's certificate")
    if isinstance(exc, ssl.SSLError):
        return (f"Kafka TLS failed at {where} ({exc.reason or exc}): check that this port speaks "
                "TLS and the profile's kafka security_protocol")
    return None


async def refusal(exc: BaseException, bootstrap: str, kafka_kwargs: Mapping[str, Any],
                  timeout: float = 5.0) -> str | None:
    """Why connecting to ``bootstrap`` with ``kafka_kwargs`` failed with ``exc``, if the cause
    is a refused login or an untrusted certificate; None otherwise (a broker that is down,
    slow or unreachable is worth retrying). Never contains the password."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaConnectionError

    host, port = _first_host(bootstrap)
    where = f"{host}:{port}"
    direct = describe(exc, where, kafka_kwargs)
    secured = bool(kafka_kwargs.get("ssl_context") or kafka_kwargs.get("sasl_mechanism"))
    if direct is not None or not secured or not isinstance(exc, KafkaConnectionError):
        return direct
    try:
        conn = await asyncio.wait_for(create_conn(
            host, port, ssl_context=kafka_kwargs.get("ssl_context"),
            security_protocol=kafka_kwargs.get("security_protocol", "PLAINTEXT"),
            sasl_mechanism=kafka_kwargs.get("sasl_mechanism"),
            sasl_plain_username=kafka_kwargs.get("sasl_plain_username"),
            sasl_plain_password=kafka_kwargs.get("sasl_plain_password"),
            request_timeout_ms=int(timeout * 1000)), timeout)
    except Exception as probe:  # noqa: BLE001 - the probe's failure is what is being read
        return describe(probe, where, kafka_kwargs)
    conn.close()
    return None
