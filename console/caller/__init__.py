"""The outbound call: OAuth2 client credentials, retries, idempotency, rate budget, timing.

>>> async with Caller(profile, catalogue, txlog) as caller:
...     result = await caller.call(CallRequest("/api/customer", "POST", "add-record", body={...}))
>>> result.outcome, result.attempts, result.event_id
"""

from __future__ import annotations

from typing import Any

from console.caller.budget import BudgetRefused, RateBudget
from console.caller.client import Caller, CallerError, TokenError
from console.caller.curl import to_curl
from console.caller.model import Attempt, CallRequest, CallResult, TokenState
from console.caller.retry import RetryPolicy

__all__ = ["Attempt", "BudgetRefused", "CallRequest", "CallResult", "Caller", "CallerError",
           "RateBudget", "RetryPolicy", "TokenError", "TokenState", "connect_profile", "to_curl"]


def connect_profile(profile: Any, *, catalogue: str | None = None) -> Any:
    """The profile ready to call: an embedded (sandbox) one is filled from a running sandbox,
    started detached (serving ``catalogue``, a file path) if none runs; others are returned as
    they are. Blocking (may start processes): run it off the UI loop."""
    if profile.connected or not profile.embedded:
        return profile
    from console.sandbox import Sandbox

    return profile.with_sandbox(Sandbox(catalogue=catalogue).ensure())
