"""API versions as URL prefixes: ``/v1/…`` (deprecated, bare resource) and ``/v2/…`` (enveloped).

Unversioned paths serve the latest version. v1 responses announce their retirement the standard
way: ``Deprecation`` (RFC 9745, a structured-field date ``@<unix seconds>``), ``Sunset``
(RFC 8594, an HTTP-date) and a ``Link`` to the same resource under v2 with
``rel="successor-version"`` (RFC 5829).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

#: When v1 became deprecated, and when it stops being served.
DEPRECATED_AT = datetime(2026, 1, 1, tzinfo=UTC)
SUNSET_AT = datetime(2027, 7, 1, tzinfo=UTC)


def split_version(path: str, known_paths: Collection[str], versions: list[str]) -> tuple[str | None, str]:
    """``("v1", "/customer/update")`` for ``/v1/customer/update``; ``(None, path)`` otherwise.

    A prefix counts only when it is one of ``versions`` and what follows is a known path, and a
    path that is itself catalogued is never split, so a catalogue path starting ``/v1`` keeps
    working.
    """
    if path in known_paths:
        return None, path
    for version in versions:
        prefix = f"/{version}"
        if path.startswith(prefix + "/"):
            bare = path[len(prefix):]
            if bare in known_paths:
                return version, bare
    return None, path


def v1_headers(
    base_url: str,
    bare_path: str,
    query: str,
    *,
    successor: str = "v2",
    deprecated_at: datetime = DEPRECATED_AT,
    sunset_at: datetime = SUNSET_AT,
) -> dict[str, str]:
    """The headers every v1 response carries, pointing at the same call under ``successor``."""
    target = f"{base_url.rstrip('/')}/{successor}{bare_path}"
    if query:
        target += f"?{query}"
    return {
        "Deprecation": f"@{int(deprecated_at.timestamp())}",
        "Sunset": format_datetime(sunset_at.astimezone(UTC), usegmt=True),
        "Link": f'<{target}>; rel="successor-version"',
    }


def wrap_v2(data: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The v2 envelope: the resource under ``data``, request facts under ``meta``."""
    return {"data": data, "meta": meta}
