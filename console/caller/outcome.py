"""Reading a final response: did it commit, roll back, get rejected, or fail?"""

from __future__ import annotations

import json
import re

from console.catalogue.vocabulary import READ_ACTIONS
from console.txlog import outcomes as oc

_XML_ROLLED_BACK = re.compile(r"<rolled_back>\s*true\s*</rolled_back>", re.IGNORECASE)


def says_rolled_back(body: str, content_type: str | None) -> bool:
    """True when the gateway's problem body carries ``"rolled_back": true`` (JSON or XML)."""
    if not body:
        return False
    if content_type and "xml" in content_type:
        return bool(_XML_ROLLED_BACK.search(body))
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("rolled_back") is True


def classify(*, action: str, status: int | None, rolled_back: bool, exhausted: bool,
             refused: bool) -> str:
    """The outcome word for a finished call (see :mod:`console.txlog.outcomes`).

    ``exhausted``: the retry contract applied and every allowed attempt ended transiently.
    ``refused``: the client-side budget (or a too-long Retry-After) stopped the call.
    """
    if status is not None and 200 <= status < 300:
        return oc.OK if action in READ_ACTIONS else oc.COMMITTED
    if rolled_back:
        return oc.ROLLED_BACK
    if exhausted:
        return oc.RETRIES_EXHAUSTED
    if refused or status == 429:
        return oc.RATE_LIMITED
    if status is not None and 400 <= status < 500:
        return oc.REJECTED
    return oc.FAILED
