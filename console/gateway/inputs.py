"""What a request names besides its operation: the query parameters and the record id.

Both are refused before anything runs when they are ambiguous or could not travel on: a
parameter given twice (which one would the action use?), a record id outside the pattern the
OpenAPI document publishes (it becomes the event's ``ce_subject`` and Kafka key, and CloudEvents
forbids control characters in strings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from console.gateway.problems import Problem

#: The record id as published in ``/openapi.json``; also the id's length limit there.
RECORD_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
MAX_RECORD_ID = 200


def parse_query(query: str) -> dict[str, str]:
    """The query parameters by name; a name given more than once is a 400 naming it."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in params:
            shown = name[:40]
            raise Problem(400, "Repeated query parameter",
                          f"the query parameter {shown!r} appears more than once; send it once "
                          f"(?{shown}=<one value>)", parameter=shown)
        params[name] = value
    return params


def check_record_id(fields: Mapping[str, Any], query: Mapping[str, str]) -> None:
    """Refuse (400) a record id the gateway could not publish: see the module docstring.

    The id is read as the actions read it (``id`` in the body, else in the query); an absent or
    empty id is left to the action, which knows whether it needs one.
    """
    value = fields.get("id", query.get("id"))
    if value is None or value == "":
        return
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Problem(400, "Invalid record id", "`id` must be a string or an integer")
    text = str(value)
    if len(text) > MAX_RECORD_ID or not RECORD_ID_PATTERN.fullmatch(text):
        raise Problem(400, "Invalid record id",
                      f"`id` must match ^[A-Za-z0-9_.-]+$ and be at most {MAX_RECORD_ID} characters "
                      "(letters, digits, '_', '.', '-'); send an id of those characters only",
                      pattern="^[A-Za-z0-9_.-]+$")
