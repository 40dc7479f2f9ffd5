"""One module per contract family; each exports ``async check(probe, item, evidence) -> str``.

A check returns the reason it passed, or raises ``CheckFailed`` / ``CheckSkipped`` /
``CheckNotApplicable`` (``console.conformance.evidence``). Modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

#: contract slug -> module under ``console.conformance.checks``.
MODULES: dict[str, str] = {
    "oauth2": "oauth2",
    "transaction-log": "transaction_log",
    "rollback-on-error": "rollback",
    "kafka-event": "kafka_event",
    "latency-sla": "latency",
    "full-log": "full_log",
    "retry": "retry",
    "rate-limit": "rate_limit",
    "api-gateway": "api_gateway",
    "versioning": "versioning",
    "json-xml": "json_xml",
    "restful": "restful",
}

Check = Callable[[Any, Any, Any], Awaitable[str]]


def check_for(slug: str) -> Check:
    """The check function for a contract slug."""
    module = importlib.import_module(f"console.conformance.checks.{MODULES[slug]}")
    return module.check
