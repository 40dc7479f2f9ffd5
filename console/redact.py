"""Redaction shared by everything that writes an exchange down (the caller's log, the gateway's log).

Secrets must be gone before a record reaches SQLite, a file or a screen: once written, a WAL page
or an export can carry them anywhere. Two layers: headers known to carry credentials are
replaced whole, and text is scanned for credential-shaped values (JSON/form fields named like
secrets, Bearer tokens, JWTs) plus any exact secret string the caller registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

REDACTED = "REDACTED"

#: Header names (lower case) whose whole value is a credential.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
    "x-auth-token", "x-amz-security-token",
})

#: Field names (lower case) whose value is a credential, in JSON, XML or form bodies.
SECRET_FIELDS = frozenset({
    "access_token", "refresh_token", "id_token", "client_secret", "password", "passwd",
    "secret", "token", "api_key", "apikey", "sasl_password", "assertion", "client_assertion",
})

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}")


def _field_patterns(names: Iterable[str]) -> list[re.Pattern[str]]:
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return [
        # "name": "value" (JSON)
        re.compile(rf'(?i)("(?:{alternation})"\s*:\s*")((?:[^"\\]|\\.)*)(")'),
        # name=value (form, query string)
        re.compile(rf"(?i)(?<![A-Za-z0-9_])((?:{alternation})=)([^&\s\"']*)()"),
        # <name>value</name> (XML)
        re.compile(rf"(?i)(<(?:{alternation})>)([^<]*)(</)"),
    ]


_DEFAULT_FIELD_PATTERNS = _field_patterns(SECRET_FIELDS)


#: Every secret field name contains one of these; so do Bearer/Basic credentials. A text without
#: any of them (most bodies) skips the regular expressions: redaction stays cheap at scale.
_TRIGGERS = re.compile(r"(?i)token|secret|passw|key|assertion|bearer|basic|eyJ")


def _may_hold_credentials(text: str, keys: tuple[str, ...]) -> bool:
    if _TRIGGERS.search(text):
        return True
    if not keys:
        return False
    lower = text.lower()
    return any(k.lower() in lower for k in keys)


def _secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as written raw and as it appears inside a JSON string, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= 4:
            forms.add(secret)
            forms.add(json.dumps(secret)[1:-1])
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    return sorted(forms, key=len, reverse=True)


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
                   *, keys: Iterable[str] = (), secrets: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``headers`` with credential headers (and ``keys``, case-insensitive) as ``REDACTED``.

    Other values still go through :func:`redact_text` so a token pasted into a custom header
    does not slip through.
    """
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    extra = {k.lower() for k in keys}
    out: dict[str, str] = {}
    for name, value in items:
        lower = name.lower()
        if lower in SECRET_HEADERS or lower in extra:
            out[name] = REDACTED
        else:
            out[name] = redact_text(str(value), secrets=secrets, keys=keys)
    return out


def redact_text(text: str | None, *, secrets: Iterable[str] = (), keys: Iterable[str] = ()) -> str:
    """``text`` with every registered secret, secret-named field, Bearer/Basic credential and JWT replaced.

    ``secrets`` are exact strings (a client secret, the current token); ``keys`` are extra field
    names configured as secret.
    """
    if not text:
        return text or ""
    for secret in _secret_forms(secrets):
        text = text.replace(secret, REDACTED)
    keys = tuple(keys)
    if not _may_hold_credentials(text, keys):
        return text
    patterns = _DEFAULT_FIELD_PATTERNS + (_field_patterns(keys) if keys else [])
    for pattern in patterns:
        text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT.sub(REDACTED, text)
