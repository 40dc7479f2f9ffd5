"""The access log's redaction prefilter: the fast test for ASCII text agrees with the pattern.

``console.redact`` decides whether a text needs the full scans with plain substring tests on
the lower-cased text when it is ASCII (the gateway asks it of every header value of a
``full-log`` record). It must say yes exactly where the case-insensitive trigger pattern and
the configured keys said yes before, whatever the letter case.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from console.gateway.accesslog import AccessLog, Exchange
from console.gateway.settings import DEFAULT_REDACT_KEYS
from console.redact import _TRIGGERS, _may_hold_credentials

FRAGMENTS = ["TOKEN", "Secret", "pAsSw", "KEY", "assertion", "Bearer", "BASIC", "EYj", "\\", "&#",
             "&amp;", "&x", ";", "%2F", "%zz", "%", "Cookie", "AUTHORIZATION", "x-Trace", "author",
             "ok", "-", " ", "=", "a", "Z", "9"]


def _reference(text: str, keys: tuple[str, ...]) -> bool:
    """The test as it was: the pattern, then each key in the lower-cased text."""
    if _TRIGGERS.search(text):
        return True
    lower = text.lower()
    return any(k.lower() in lower for k in keys)


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=8),
       noise=st.text(alphabet=st.characters(max_codepoint=127), max_size=12),
       keys=st.sampled_from([(), DEFAULT_REDACT_KEYS, ("X-Trace", "Cookie")]))
def test_the_prefilter_says_yes_exactly_where_the_pattern_did(parts, noise, keys):
    text = "".join(parts) + noise
    assert _may_hold_credentials(text, keys) == _reference(text, keys)


def test_a_header_value_named_by_a_configured_key_in_capitals_is_redacted_in_the_record():
    log = AccessLog(redact_keys=DEFAULT_REDACT_KEYS + ("x-trace-secretless",))
    ex = Exchange(request_id="r1", trace_id="t" * 32, traceparent="00-x", started_at=1_700_000_000.0,
                  t0=100.0, method="GET", path="/x", query="", client_ip="127.0.0.1",
                  request_headers=[("x-debug", "COOKIE=abc123; AUTHORIZATION=hunter2"),
                                   ("x-note", "X-TRACE-SECRETLESS=v1")], full=True)
    record = log.build(ex, 200, [("content-type", "application/json")], b"{}", 2, 100.01, 1_700_000_001.0)
    headers = record["request"]["headers"]
    assert "abc123" not in headers["x-debug"] and "hunter2" not in headers["x-debug"]
    assert re.fullmatch(r"X-TRACE-SECRETLESS=REDACTED", headers["x-note"])
