"""Version prefixes and the v1 retirement headers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from console.gateway.versioning import DEPRECATED_AT, SUNSET_AT, split_version, v1_headers, wrap_v2

KNOWN = {"/customer/update", "/invoice/export", "/v1/legacy"}
VERSIONS = ["v1", "v2"]


@pytest.mark.parametrize(("path", "expected"), [
    ("/customer/update", (None, "/customer/update")),
    ("/v1/customer/update", ("v1", "/customer/update")),
    ("/v2/invoice/export", ("v2", "/invoice/export")),
    ("/v3/invoice/export", (None, "/v3/invoice/export")),      # not a served version
    ("/v1/nowhere", (None, "/v1/nowhere")),                    # not a known path
    ("/v1", (None, "/v1")),
    ("/v1customer/update", (None, "/v1customer/update")),
    ("/v1/legacy", (None, "/v1/legacy")),                      # a catalogued path is never split
    ("/v2/v1/legacy", ("v2", "/v1/legacy")),
])
def test_split_version(path, expected):
    assert split_version(path, KNOWN, VERSIONS) == expected


def test_split_version_follows_the_catalogue_versions():
    assert split_version("/v3/invoice/export", KNOWN, ["v1", "v2", "v3"]) == ("v3", "/invoice/export")


def test_v1_headers():
    headers = v1_headers("http://127.0.0.1:8080/", "/customer/update", "action=check-status&id=c1")
    assert headers["Deprecation"] == "@1767225600"
    assert headers["Link"] == (
        '<http://127.0.0.1:8080/v2/customer/update?action=check-status&id=c1>; rel="successor-version"')
    assert headers["Sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert parsedate_to_datetime(headers["Sunset"]) == SUNSET_AT
    assert SUNSET_AT > DEPRECATED_AT  # RFC 9745 §3: sunset never before deprecation


def test_v1_headers_without_query_and_with_other_dates():
    headers = v1_headers("https://gw", "/q", "", successor="v3",
                         deprecated_at=datetime(2025, 1, 1, tzinfo=UTC),
                         sunset_at=datetime(2025, 6, 1, tzinfo=UTC))
    assert headers["Link"] == '<https://gw/v3/q>; rel="successor-version"'
    assert headers["Deprecation"] == "@1735689600"
    assert headers["Sunset"] == "Sun, 01 Jun 2025 00:00:00 GMT"


def test_wrap_v2():
    assert wrap_v2([1], {"version": "v2"}) == {"data": [1], "meta": {"version": "v2"}}
    assert wrap_v2(None, {}) == {"data": None, "meta": {}}
