"""Redaction shared by everything that writes an exchange down (the caller's log, the gateway's log).

Secrets must be gone before a record reaches SQLite, a file or a screen: once written, a WAL page
or an export can carry them anywhere. Two layers: headers known to carry credentials are
replaced whole, and text is scanned for credential-shaped values (JSON/form fields named like
secrets, Bearer tokens, JWTs) plus any exact secret string the caller registered. A field named
like a secret loses its value whatever the value is (a number, an array, an object) and however
its name is written (JSON escapes, XML ``<item key="…">``, percent-encoding).
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus

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


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*')
_FORM_PAIR = re.compile(r"(?<![A-Za-z0-9_%])([A-Za-z0-9_.%+-]+)=([^&\s\"']*)")
_XML_OPEN = re.compile(r"<([A-Za-z_][A-Za-z0-9_.:-]*)((?:\s[^<>]*?)?)(/?)>")
_XML_KEY_ATTR = re.compile(r"""\bkey\s*=\s*(["'])(.*?)\1""", re.S)
_JSON_LITERAL_END = re.compile(r"[,}\]\s]")


def _json_key(raw: str) -> str:
    """A JSON member name as it reads once its escapes are decoded (``pass\\u0077ord`` → ``password``)."""
    if "\\" not in raw:
        return raw
    try:
        return json.loads(f'"{raw}"')
    except ValueError:
        return raw


def _json_value_end(text: str, start: int) -> int:
    """Where the JSON value starting at ``start`` ends (the text's end when it was cut short)."""
    if start >= len(text):
        return start
    opening = text[start]
    if opening == '"':
        index = start + 1
        while index < len(text):
            if text[index] == "\\":
                index += 2
            elif text[index] == '"':
                return index + 1
            else:
                index += 1
        return len(text)
    if opening in "[{":
        depth, index, in_string = 0, start, False
        while index < len(text):
            char = text[index]
            if in_string:
                if char == "\\":
                    index += 1
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
                if depth == 0:
                    return index + 1
            index += 1
        return len(text)
    found = _JSON_LITERAL_END.search(text, start)
    return found.start() if found else len(text)


def _redact_json_members(text: str, names: frozenset[str]) -> str:
    """Every member named like a secret gets ``REDACTED`` as its value, whatever the value is
    (string, number, array, object) and however the name is escaped. A string stays a string
    (``"REDACTED"`` inside its quotes); anything else becomes the string ``"REDACTED"``."""
    out, position = [], 0
    for match in _JSON_KEY.finditer(text):
        if match.start() < position:  # inside a value already redacted
            continue
        if _json_key(match.group(1)).lower() not in names:
            continue
        start = match.end()
        end = _json_value_end(text, start)
        out.append(text[position:start])
        out.append(f'"{REDACTED}"')
        position = end
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)


def _redact_form_pairs(text: str, names: frozenset[str]) -> str:
    """``name=value`` (form bodies, query strings), the name read percent-decoded."""
    def replace(match: re.Match[str]) -> str:
        name = unquote_plus(match.group(1)).lower()
        return f"{match.group(1)}={REDACTED}" if name in names else match.group(0)
    return _FORM_PAIR.sub(replace, text)


def _xml_content_end(text: str, tag: str, start: int) -> tuple[int, int]:
    """``(end of the content, end of the closing tag)`` of the element ``tag`` opened just before
    ``start``, counting nested elements of the same name; the text's end when it was cut."""
    depth = 1
    for match in re.finditer(rf"<(/?){re.escape(tag)}(?:\s[^<>]*?)?(/?)>", text[start:]):
        if match.group(1):
            depth -= 1
            if depth == 0:
                return start + match.start(), start + match.end()
        elif not match.group(2):
            depth += 1
    return len(text), len(text)


def _redact_xml_elements(text: str, names: frozenset[str]) -> str:
    """``<password …>…</password>`` and ``<item key="password">…</item>``: the content goes,
    whatever it holds (text or child elements); attributes such as ``type`` stay."""
    out, position = [], 0
    for match in _XML_OPEN.finditer(text):
        if match.start() < position or match.group(3):  # inside a redacted element, or empty
            continue
        tag = match.group(1)
        name = tag.rsplit(":", 1)[-1].lower()
        if name == "item":
            key = _XML_KEY_ATTR.search(match.group(2))
            name = html.unescape(key.group(2)).lower() if key else ""
        if name not in names:
            continue
        content_end, element_end = _xml_content_end(text, tag, match.end())
        out.append(text[position:match.end()])
        out.append(REDACTED)
        out.append(text[content_end:element_end])
        position = element_end
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)


#: Every secret field name contains one of these; so do Bearer/Basic credentials. A text without
#: any of them (most bodies) skips the scans: redaction stays cheap at scale. An escape
#: (``\u0077``, ``&#119;``, ``%77``) may spell a name in disguise, so it triggers a scan too.
_TRIGGERS = re.compile(r"(?i)token|secret|passw|key|assertion|bearer|basic|eyJ|\\|&#|&[a-z]+;|%[0-9a-f]{2}")


#: :data:`_TRIGGERS` as plain words and the escapes it looks for, for ASCII text (below).
_TRIGGER_WORDS = ("token", "secret", "passw", "key", "assertion", "bearer", "basic", "eyj", "\\", "&#")
_ESCAPES = re.compile(r"(?i)&[a-z]+;|%[0-9a-f]{2}")


def _may_hold_credentials(text: str, keys: tuple[str, ...]) -> bool:
    if not text.isascii():
        if _TRIGGERS.search(text):
            return True
        lower = text.lower()
        return any(k.lower() in lower for k in keys)
    # ASCII text: the same test as substrings of the lower-cased text, several times faster than
    # the pattern's case-insensitive alternation; the gateway's access log asks it of every
    # header value of a full-log record (~5 % of its CPU during apilog check, py-spy).
    lower = text.lower()
    for word in _words_for(keys):
        if word in lower:
            return True
    return ("&" in text or "%" in text) and _ESCAPES.search(text) is not None


@functools.lru_cache(maxsize=64)
def _words_for(keys: tuple[str, ...]) -> tuple[str, ...]:
    return _TRIGGER_WORDS + tuple(k.lower() for k in keys)


@functools.lru_cache(maxsize=64)
def _lowered(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(k.lower() for k in keys)


def _secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as written raw and as it appears inside a JSON string, longest first.

    Worked out once per set of secrets: the log redacts every header value and body of every
    call with the same few secrets, and building the forms anew each time was 45 % of the
    transaction log thread's CPU during ``apilog check`` (cProfile, 59,000 calls).
    """
    key = secrets if isinstance(secrets, (frozenset, tuple)) else frozenset(secrets)
    return _forms_of(key) if key else ()


@functools.lru_cache(maxsize=64)
def _forms_of(secrets: frozenset[str] | tuple[str, ...]) -> tuple[str, ...]:
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= 4:
            forms.add(secret)
            forms.add(json.dumps(secret)[1:-1])
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    return tuple(sorted(forms, key=len, reverse=True))


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
                   *, keys: Iterable[str] = (), secrets: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``headers`` with credential headers (and ``keys``, case-insensitive) as ``REDACTED``.

    Other values still go through :func:`redact_text` so a token pasted into a custom header
    does not slip through.
    """
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    extra = _lowered(tuple(keys))
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
    names = SECRET_FIELDS | _lowered(keys) if keys else SECRET_FIELDS
    text = _redact_json_members(text, names)
    text = _redact_form_pairs(text, names)
    text = _redact_xml_elements(text, names)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT.sub(REDACTED, text)
