"""Turn one Kafka record into a :class:`FeedEvent`, whatever it holds.

CloudEvents 1.0 arrive in binary mode (``ce_*`` headers, data in the value) or structured mode
(``content-type: application/cloudevents+json``, the whole event in the value). Everything else
is shown raw. An operator watching a topic must see every record on it, so decoding never
raises and never drops: a record that claims to be a CloudEvent but is not a valid one (bad
UTF-8 in a header, ``ce_id`` missing, unparsable ``ce_time``) is shown raw with a note saying why.

What the feed shows reaches screens and ``apilog events`` output, so secrets are redacted:
credential headers as the record is decoded, and in JSON data every member named like a secret
(``password``, ``client_secret``, ``token`` … as :mod:`console.redact` lists them) whenever the
data is read. A gateway event carries the record it wrote, and a caller may have stored a
password in it.

JSON data in binary mode is parsed when something reads :attr:`FeedEvent.data`, not as the
record is decoded: the event keeps the record's value anyway (``raw_value``), most events are
never looked into (a screen shows a few rows, a filter reads each event's data once), and
parsing and walking a gateway event's data was half of decoding it. Nothing reads the value
unredacted: ``data`` is the only way to the parsed data, and it redacts every time.
"""

from __future__ import annotations

import base64
import functools
import json
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from console.jsontext import dumps_json, loads_json
from console.redact import REDACTED, SECRET_FIELDS, redact_text

Mode = Literal["binary", "structured", "raw"]

STRUCTURED_CONTENT_TYPE = "application/cloudevents"
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_NO_TRACE = "0" * 32
_JSON_CONTENT_TYPE = re.compile(r"^(application|text)/([a-zA-Z0-9\-\.]+\+)?json(;.*)?$")
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|api[-_]?key", re.I)
#: Every credential redact_text finds in text holds one of these; text without any (most) is not
#: scanned. Matched against the lower-cased bytes: the same pattern with (?i) is ten times
#: slower and made decoding 2.4 times slower overall.
_SECRET_HINTS = re.compile(rb"token|secret|passw|key|assertion|bearer|basic|eyj")
_BINARY_KNOWN = frozenset({"id", "type", "source", "subject", "time", "specversion", "traceparent"})
_EPOCH = datetime.fromtimestamp(0, tz=UTC)
#: A tuple, not ``dict | list``: that expression builds a new union type at every call.
_CONTAINERS = (dict, list)


class _InValue:
    """The marker :attr:`FeedEvent.parsed` holds while the data is JSON still in ``raw_value``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<JSON in raw_value, parsed when read>"

    # One marker: a copied or unpickled event must still find its data in ``raw_value``.
    def __reduce__(self) -> str:
        return "IN_VALUE"

    def __copy__(self) -> _InValue:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _InValue:
        return self


IN_VALUE = _InValue()


class FeedEvent(msgspec.Struct, frozen=True, gc=False):
    """One record of an event topic, decoded as far as it could be.

    Frozen so that the buffer, the screens and the CLI can share one instance safely; the
    correlator makes a linked copy (:func:`linked_copy`) rather than changing it.

    A msgspec ``Struct`` that the garbage collector does not track (``gc=False``): an event
    refers to its values (text, numbers, parsed JSON), never back to itself or to anything
    that refers to it, so it cannot be part of a reference cycle; and the feed keeps thousands
    of them, which the collector walked again and again. With the header names shared (below)
    the feed reads ~1.45 times as many events a second as it did with a frozen dataclass
    (``docs/benchmarks.md``, 5 December evening).
    """

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: str | None
    #: The record's header names, in order. Events of one producer share one tuple of names
    #: (the gateway sends the same names on every record), so an event holds one tuple of its
    #: own (its values) rather than a pair per header: eight objects fewer per gateway event,
    #: for the allocator and the collector.
    header_names: tuple[str, ...]
    #: The header values, as text, in the order of ``header_names``; a credential's is withheld.
    header_values: tuple[str, ...]
    raw_value: bytes
    mode: Mode
    #: The data as decoded, or :data:`IN_VALUE`: JSON in ``raw_value``, parsed and redacted
    #: each time :attr:`data` is read. Read :attr:`data`, never this.
    parsed: Any = None
    id: str | None = None
    type: str | None = None
    source: str | None = None
    subject: str | None = None
    time: datetime | None = None
    traceparent: str | None = None
    specversion: str | None = None
    datacontenttype: str | None = None
    note: str | None = None
    transaction_id: str | None = None
    extensions: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def data(self) -> Any:
        """The event's data, secrets redacted: JSON parsed (when the content type says JSON
        and it parses), else text, else None when the record had no value."""
        if self.parsed is not IN_VALUE:
            return self.parsed
        data, _ = _binary_data(self.raw_value, self.datacontenttype)  # UTF-8: no note
        return _without_secrets(data, self.raw_value)

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Each header as ``(name, value)``, in the record's order."""
        return tuple(zip(self.header_names, self.header_values, strict=True))

    @property
    def is_cloudevent(self) -> bool:
        return self.mode != "raw"

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id (32 hex digits) inside ``traceparent``, when it is well formed."""
        return trace_id_of(self.traceparent)

    @property
    def position(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)

    def search_text(self) -> str:
        """Everything an operator may filter on, lower-cased, in one string."""
        parts = [self.topic, str(self.partition), str(self.offset), self.key or "", self.mode,
                 self.id or "", self.type or "", self.source or "", self.subject or "",
                 self.trace_id or "", self.transaction_id or "", self.note or ""]
        parts.extend(f"{name}={value}" for name, value in self.headers)
        data = self.data
        parts.append(data if isinstance(data, str) else _compact_json(data))
        return "\n".join(parts).lower()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: what ``apilog events --json`` prints, one per line."""
        out: dict[str, Any] = {
            "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "timestamp": _iso(self.timestamp), "key": self.key, "mode": self.mode,
            "id": self.id, "type": self.type, "source": self.source, "subject": self.subject,
            "time": _iso(self.time), "traceparent": self.traceparent, "trace_id": self.trace_id,
            "datacontenttype": self.datacontenttype, "data": self.data,
            "transaction_id": self.transaction_id,
            "headers": dict(zip(self.header_names, self.header_values, strict=True)),
        }
        if self.extensions:
            out["extensions"] = dict(self.extensions)
        if self.note:
            out["note"] = self.note
        if self.mode == "raw" and _not_utf8(self.raw_value):
            out["value_base64"] = base64.b64encode(self.raw_value).decode("ascii")
        return out


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` value, or None when it is absent or malformed."""
    if not traceparent:
        return None
    # As written (lower case, no spaces: the gateway's), else tidied first.
    match = _TRACEPARENT.fullmatch(traceparent) or _TRACEPARENT.fullmatch(
        traceparent.strip().lower())
    if match is None or match[1] == _NO_TRACE:
        return None
    return match[1]


def trace_ids_of(traceparents: Sequence[str | None]) -> list[str | None]:
    """:func:`trace_id_of` of each, in order: linking a fetched batch asks for every event's.

    When every value present is written as the gateway writes them, all are checked at once
    and sliced, in a third of the time; otherwise each goes through :func:`trace_id_of`.
    """
    present = [value for value in traceparents if value]
    if not _as_the_gateway_writes("\n".join(present), len(present)):
        return [trace_id_of(value) for value in traceparents]
    return [trace_id if value and (trace_id := value[3:35]) != _NO_TRACE else None
            for value in traceparents]


def _as_the_gateway_writes(joined: str, count: int) -> bool:
    """True when ``joined`` is ``count`` traceparents, one a line, each written as the gateway
    writes them: 55 characters, lower-case hex with dashes at 2, 35 and 52 (checked for all
    at once, in C)."""
    return (len(joined) == 56 * count - 1
            and not joined.encode().translate(None, b"0123456789abcdef-\n")
            and joined.count("-") == 3 * count and joined.count("\n") == count - 1
            and joined[2::56] == joined[35::56] == joined[52::56] == "-" * count
            and joined[55::56] == "\n" * (count - 1))


def linked_copy(event: FeedEvent, transaction_id: str | None) -> FeedEvent:
    """A copy of ``event`` that names the transaction it belongs to."""
    return msgspec.structs.replace(event, transaction_id=transaction_id)


def with_data_read(event: FeedEvent) -> FeedEvent:
    """``event``, or a copy of it holding its data parsed, for a caller about to read
    :attr:`FeedEvent.data` more than once (a filter, then the line it prints)."""
    if event.parsed is not IN_VALUE:
        return event
    return msgspec.structs.replace(event, parsed=event.data)


def decode_record(topic: str, partition: int, offset: int, timestamp_ms: int | None,
                  key: bytes | None, value: bytes | None,
                  headers: Sequence[tuple[str, bytes | None]] | None) -> FeedEvent:
    """Decode one record. Never raises: anything that is not a valid CloudEvent comes back raw."""
    raw_value = value or b""
    names: list[str] = []
    shown: list[str] = []
    attributes: dict[str, str] = {}  # the ce_* headers, without the prefix
    content_type = None
    not_utf8 = None  # a ce_* header that is not UTF-8
    for name, raw in headers or ():  # one pass: this loop is most of the feed's work
        lowered = name.lower()
        try:
            text = (raw or b"").decode("utf-8")
        except UnicodeDecodeError:
            text = (raw or b"").decode("utf-8", "backslashreplace")
            if lowered.startswith("ce_"):
                not_utf8 = name
        if lowered.startswith("ce_"):
            attributes[lowered[3:]] = text
        elif lowered == "content-type":
            content_type = text
        names.append(name)
        shown.append(REDACTED if _is_secret(lowered) else text)
    base = {
        "topic": topic, "partition": partition, "offset": offset,
        "timestamp": datetime.fromtimestamp((timestamp_ms or 0) / 1000, tz=UTC),
        "key": None if key is None else key.decode("utf-8", "backslashreplace"),
        "header_names": tuple(names), "header_values": tuple(shown), "raw_value": raw_value,
    }
    try:
        if attributes or not_utf8:
            if not_utf8:
                raise UnicodeError(f"header {not_utf8} is not valid UTF-8")
            if attributes.get("specversion") not in (None, "1.0"):
                return _binary_by_sdk(base, headers or (), key, raw_value)
            return _binary(base, attributes, content_type, raw_value)
        if content_type is not None and content_type.lower().startswith(STRUCTURED_CONTENT_TYPE):
            return _structured(base, key, raw_value, content_type)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means "show it raw"
        return _raw(base, raw_value, note=f"not a valid CloudEvent: {_reason(exc)}")
    return _raw(base, raw_value, note=None)


@dataclass(frozen=True, slots=True)
class _HeaderPlan:
    """What decode_record's header loop makes of one list of header names, worked out once:
    where each CloudEvent attribute's value is."""

    names: tuple[str, ...]  # the names themselves: every event decoded by this plan shares them
    at: dict[str, int]  # attribute name (ce_ prefix off) -> index of its header
    #: The values of specversion, id, source and type, picked from the header values.
    required: Callable[[Sequence[str]], tuple[str, str, str, str]] | None
    extensions: tuple[tuple[str, int], ...]
    content_type_at: int | None  # the last content-type header
    secret_at: frozenset[int]  # headers whose value is withheld

    @classmethod
    def of(cls, names: tuple[str, ...]) -> _HeaderPlan:
        lowered = [name.lower() for name in names]
        ce = [(name[3:], i) for i, name in enumerate(lowered) if name.startswith("ce_")]
        at = dict(ce)
        required = None
        # An attribute named twice: which one counts is decode_record's to say.
        if len(at) == len(ce) and all(a in at for a in ("specversion", "id", "source", "type")):
            required = operator.itemgetter(at["specversion"], at["id"], at["source"], at["type"])
        content = [i for i, name in enumerate(lowered) if name == "content-type"]
        return cls(names, at, required, tuple((a, i) for a, i in ce if a not in _BINARY_KNOWN),
                   content[-1] if content else None,
                   frozenset(i for i, name in enumerate(lowered) if _is_secret(name)))


#: Plans by header names: a producer sends the same names in the same order on every record.
_HEADER_PLANS: dict[tuple[str, ...], _HeaderPlan] = {}
#: Content types seen, and whether each is JSON (the same one or two on every record).
_JSON_TYPES: dict[str | None, bool] = {None: True}
_PLAN_MEMORY = 1024
#: Whether an object's member names include a secret's, by its names in order
#: (:func:`_names_a_secret`): at most ``_PLAN_MEMORY`` shapes, none of more than
#: ``_SHAPE_NAMES`` names or ``_SHAPE_CHARS`` characters of names.
_SECRET_SHAPES: dict[tuple[Any, ...], bool] = {}
_SHAPE_NAMES = 64
_SHAPE_CHARS = 1024
def decode_records(records: Iterable[Any]) -> list[FeedEvent]:
    """:func:`decode_record` for each of a fetched batch, in order, with the same results.

    ``records`` are objects with the attributes of aiokafka's ``ConsumerRecord`` (topic,
    partition, offset, timestamp, key, value, headers). The gateway's events (binary mode,
    CloudEvents 1.0, UTF-8 throughout, JSON data) take a short path that does what
    decode_record does for them with the header names looked at once per set of names;
    any other record, or one the short path is unsure of, goes through decode_record itself.
    """
    out: list[FeedEvent] = []
    append = out.append
    last_ms: int | None = None
    stamp = _EPOCH
    for r in records:
        ms = r.timestamp or 0
        if ms != last_ms:  # records of one producer batch share their timestamp often
            # decode_record's datetime.fromtimestamp(ms / 1000, tz=UTC), exactly (tests hold
            # the two paths equal), in four fifths of the time
            last_ms, stamp = ms, _EPOCH + timedelta(0, 0, 0, ms)  # days, s, µs, ms
        try:
            event = _gateway_event(r, stamp)
        except Exception:  # noqa: BLE001 - decode_record gives the answer, and the reason
            event = None
        append(event if event is not None else decode_record(
            r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers))
    return out


def _gateway_event(r: Any, stamp: datetime) -> FeedEvent | None:
    """A binary-mode CloudEvents 1.0 record with JSON data, decoded; None for anything else.

    Raises where decode_record would take a slower branch (bad UTF-8, an unparsable time).
    """
    value = r.value
    headers = r.headers
    if not headers or not value or value[:1] not in (b"{", b"["):
        return None
    names, raws = zip(*headers, strict=True)
    plan = _HEADER_PLANS.get(names)
    if plan is None:
        plan = _HeaderPlan.of(names)
        if len(_HEADER_PLANS) < _PLAN_MEMORY:
            _HEADER_PLANS[names] = plan
    # One decode for all values: a newline is ASCII, so the joined bytes are valid UTF-8
    # exactly when every value is; a value holding a newline is split apart and caught here.
    texts = b"\n".join(raws).decode("utf-8").split("\n")
    if len(texts) != len(raws):
        texts = [raw.decode("utf-8") for raw in raws]
    if plan.required is None:
        return None
    specversion, event_id, source, type_ = plan.required(texts)
    if specversion != "1.0" or not (event_id and source and type_):
        return None
    at = plan.at
    content_type = None if plan.content_type_at is None else texts[plan.content_type_at]
    is_json = _JSON_TYPES.get(content_type)
    if is_json is None and content_type is not None:  # None (no content type) is known: JSON
        is_json = _is_json(content_type)
        if len(_JSON_TYPES) < _PLAN_MEMORY:
            _JSON_TYPES[content_type] = is_json
    if not is_json:
        return None
    shown = texts
    if plan.secret_at:
        shown = [REDACTED if i in plan.secret_at else text for i, text in enumerate(texts)]
    if not value.isascii():
        value.decode("utf-8")  # raises for bad UTF-8: decode_record says so in a note
    when = texts[at["time"]] if "time" in at else None
    key = r.key
    return FeedEvent(
        r.topic, r.partition, r.offset, stamp,
        None if key is None else key.decode("utf-8", "backslashreplace"),
        plan.names, tuple(shown), value, "binary", IN_VALUE, event_id, type_, source,
        texts[at["subject"]] if "subject" in at else None,
        None if when is None else _utc(datetime.fromisoformat(when)),
        texts[at["traceparent"]] if "traceparent" in at else None, "1.0", content_type,
        None, None, {name: texts[i] for name, i in plan.extensions} if plan.extensions else {})


def _binary(base: dict[str, Any], attributes: dict[str, str], content_type: str | None,
            value: bytes) -> FeedEvent:
    """Binary mode, CloudEvents 1.0 (the gateway's), decoded here directly: the SDK's
    validating path costs ~40 µs an event, four fifths of the feed's time. Other spec versions
    go through the SDK (``cloudevents.core.bindings.kafka.from_binary``)."""
    missing = [f"ce_{name}" for name in ("specversion", "id", "source", "type")
               if not attributes.get(name)]
    if missing:
        raise ValueError(f"required header {', '.join(missing)} is missing or empty")
    when = None
    if "time" in attributes:
        try:
            when = datetime.fromisoformat(attributes["time"])
        except ValueError:
            raise ValueError(f"ce_time {attributes['time']!r} is not an RFC 3339 time") from None
    if value and _is_json(content_type) and not _not_utf8(value):
        data, note = IN_VALUE, None  # parsed when read (FeedEvent.data)
    else:
        data, note = _binary_data(value, content_type)
        data = _without_secrets(data, value)
    return FeedEvent(
        **base, mode="binary", parsed=data, id=attributes["id"], type=attributes["type"],
        source=attributes["source"], subject=attributes.get("subject"),
        time=_utc(when), traceparent=attributes.get("traceparent"), specversion="1.0",
        datacontenttype=content_type, note=note,
        extensions={k: v for k, v in attributes.items() if k not in _BINARY_KNOWN})


def _binary_data(value: bytes, content_type: str | None) -> tuple[Any, str | None]:
    """The event data as the SDK reads it: JSON when the content type says so, else text."""
    if not value:
        return None, None
    if _is_json(content_type):
        try:
            return loads_json(value), None
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting
            pass                               # past the parser's depth is shown as text
    try:
        return value.decode("utf-8"), None
    except UnicodeDecodeError:
        return value.decode("utf-8", "backslashreplace"), "data is not valid UTF-8"


def _is_json(content_type: str | None) -> bool:
    """Whether binary-mode data of this content type is read as JSON (absent means JSON)."""
    return content_type is None or _JSON_CONTENT_TYPE.match(content_type) is not None


def _binary_by_sdk(base: dict[str, Any], headers: Sequence[tuple[str, bytes | None]],
                   key: bytes | None, value: bytes) -> FeedEvent:
    from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
    from cloudevents.core.formats.json import JSONFormat

    as_dict = {name: val or b"" for name, val in headers}
    event = from_binary(KafkaMessage(headers=as_dict, key=key, value=value), JSONFormat())
    return _from_cloudevent(base, event, "binary")


def _structured(base: dict[str, Any], key: bytes | None, value: bytes,
                content_type: str) -> FeedEvent:
    from cloudevents.core.bindings.kafka import KafkaMessage, from_structured
    from cloudevents.core.formats.json import JSONFormat

    if "json" not in content_type.lower():
        raise ValueError(f"structured mode {content_type!r} is not supported, only +json")
    message = KafkaMessage(headers={"content-type": content_type.encode()}, key=key, value=value)
    return _from_cloudevent(base, from_structured(message, JSONFormat()), "structured")


def _from_cloudevent(base: dict[str, Any], event: Any, mode: Mode) -> FeedEvent:
    attributes = event.get_attributes()
    known = {"id", "type", "source", "subject", "time", "specversion", "datacontenttype",
             "traceparent", "partitionkey", "dataschema"}
    extensions = {name: str(val) for name, val in attributes.items() if name not in known}
    data = _without_secrets(event.get_data(), base["raw_value"])
    note = None
    if isinstance(data, bytes):
        data = data.decode("utf-8", "backslashreplace")
        note = "data is not valid UTF-8"
    when = attributes.get("time")
    return FeedEvent(
        **base, mode=mode, parsed=data, id=attributes.get("id"), type=attributes.get("type"),
        source=attributes.get("source"), subject=attributes.get("subject"),
        time=_utc(when if isinstance(when, datetime) else None),
        traceparent=attributes.get("traceparent"), specversion=attributes.get("specversion"),
        datacontenttype=attributes.get("datacontenttype"), note=note, extensions=extensions,
    )


def _utc(when: datetime | None) -> datetime | None:
    """Aware times in UTC; a time without an offset is taken as UTC (RFC 3339 requires one)."""
    if when is None or when.tzinfo is UTC:  # UTC already (fromisoformat reads "Z" as UTC)
        return when
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _raw(base: dict[str, Any], value: bytes, note: str | None) -> FeedEvent:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = value.decode("utf-8", "backslashreplace")
        note = "; ".join(filter(None, [note, "value is not valid UTF-8"]))
        return FeedEvent(**base, mode="raw", parsed=_without_secrets(text, value), note=note)
    try:
        data: Any = loads_json(text) if text else None
    except (ValueError, RecursionError):
        data = text
    return FeedEvent(**base, mode="raw", parsed=_without_secrets(data, value), note=note)


def _without_secrets(data: Any, raw: bytes) -> Any:
    """``data`` with the value of every secret-named member (at any depth) as ``REDACTED``;
    text (data that is not JSON, or JSON too deep to parse) through :func:`redact_text`.

    Parsed data is searched by its member names as parsed, so a name spelt with JSON escapes
    (``"pass\\u0077ord"``) is caught too; text is first searched for a hint in ``raw``.
    Data nested too deep to walk is withheld whole: better hidden than shown with a secret.
    """
    if isinstance(data, str):
        return redact_text(data) if _SECRET_HINTS.search(raw.lower()) else data
    if not isinstance(data, _CONTAINERS) or not _names_a_secret(data):
        return data
    try:
        return _redact_members(data)
    except RecursionError:
        return REDACTED


def _names_a_secret(data: dict[Any, Any] | list[Any]) -> bool:
    """True when a member at any depth is named like a secret (iterative: any depth parses).

    An object's names are looked at once per shape (its names, in order): a producer's objects
    come in a few shapes (the gateway's events one per operation), so a gateway event's dozen
    names cost one tuple and one lookup instead of a dozen ``lower()`` calls and set lookups.
    """
    todo: list[Any] = [data]
    shapes = _SECRET_SHAPES
    secret: bool | None
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if len(item) > _SHAPE_NAMES:  # never remembered (below)
                secret = _any_secret_name(item)
            elif (secret := shapes.get(names := tuple(item))) is None:
                secret = _any_secret_name(names)
                if len(shapes) < _PLAN_MEMORY and _small_names(names):
                    shapes[names] = secret
            if secret:
                return True
            values: Iterable[Any] = item.values()
        else:
            values = item
        # Parsed JSON holds exact dicts and lists: ``type(v) is`` twice costs half of one
        # isinstance against a tuple, and this loop looks at every value of every event.
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                todo.append(value)
    return False


def _any_secret_name(names: Iterable[Any]) -> bool:
    return any(isinstance(name, str) and name.lower() in SECRET_FIELDS for name in names)


def _small_names(names: tuple[Any, ...]) -> bool:
    """Whether a shape is small enough to remember: it holds its names, which a producer could
    make as long as its records."""
    return all(type(name) is str for name in names) and sum(map(len, names)) <= _SHAPE_CHARS


def _redact_members(data: Any) -> Any:
    if isinstance(data, list):
        return [_redact_members(item) for item in data]
    if isinstance(data, dict):
        return {key: REDACTED if isinstance(key, str) and key.lower() in SECRET_FIELDS
                else _redact_members(value) for key, value in data.items()}
    return data


@functools.lru_cache(maxsize=1024)
def _is_secret(name: str) -> bool:
    return _SECRET_HEADER.search(name) is not None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeError):
        return str(exc) if not isinstance(exc, UnicodeDecodeError) else "not valid UTF-8"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def _not_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _compact_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 as ``isoformat`` writes it, with ``Z`` for UTC."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # every event's times: msgspec writes that form 7 times as fast
        return dumps_json(value)[1:-1].decode("ascii")
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
