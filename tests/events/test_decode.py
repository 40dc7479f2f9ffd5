"""Decoding: CloudEvents in both Kafka modes, everything else raw, never an exception."""

from __future__ import annotations

import copy
import gc
import json
import pickle
from datetime import UTC, datetime
from types import SimpleNamespace

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.events.decode import (
    FeedEvent,
    decode_record,
    decode_records,
    trace_id_of,
    trace_ids_of,
    with_data_read,
)
from tests.events.conftest import ce_headers

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def decode(value: bytes | None, headers=None, key: bytes | None = b"r1"):
    return decode_record("gateway.events.customer", 2, 7, 1_700_000_000_000, key, value, headers)


def test_binary_mode_cloudevent_is_decoded_with_its_trace_id():
    event = decode(b'{"id": "r1", "name": "An"}', ce_headers("e-1", traceparent=TRACEPARENT))
    assert event.mode == "binary" and event.is_cloudevent
    assert (event.id, event.type, event.source, event.subject) == (
        "e-1", "apilog.customer.add-record", "/gateway", "r1")
    assert event.time == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    assert event.data == {"id": "r1", "name": "An"}
    assert event.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert event.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.key == "r1" and event.position == ("gateway.events.customer", 2, 7)


def test_structured_mode_cloudevent_is_decoded():
    body = {"specversion": "1.0", "id": "s-1", "source": "/gateway", "type": "apilog.qos.export-data",
            "subject": "q9", "time": "2026-11-26T18:00:00+07:00", "data": {"rows": 3}}
    event = decode(json.dumps(body).encode(),
                   [("content-type", b"application/cloudevents+json; charset=utf-8")])
    assert event.mode == "structured"
    assert (event.id, event.type, event.subject, event.data) == (
        "s-1", "apilog.qos.export-data", "q9", {"rows": 3})
    assert event.time == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def test_plain_json_record_is_raw_with_its_data():
    event = decode(b'{"hello": "world"}', [("x-origin", b"legacy")])
    assert event.mode == "raw" and not event.is_cloudevent
    assert event.data == {"hello": "world"} and event.id is None and event.note is None
    assert event.headers == (("x-origin", "legacy"),)


def test_bad_utf8_value_is_raw_and_kept_byte_for_byte():
    event = decode(b"\xff\xfe\x00ok")
    assert event.mode == "raw" and event.raw_value == b"\xff\xfe\x00ok"
    assert "not valid UTF-8" in event.note
    assert event.to_json()["value_base64"] == "//4Ab2s="


def test_cloudevent_header_with_bad_utf8_is_shown_raw_with_the_reason():
    headers = ce_headers("e-2")
    headers[3] = ("ce_type", b"\xc3\x28")
    event = decode(b"{}", headers)
    assert event.mode == "raw"
    assert event.note == "not a valid CloudEvent: header ce_type is not valid UTF-8"


def test_cloudevent_missing_required_header_is_raw():
    headers = [h for h in ce_headers("e-3") if h[0] != "ce_source"]
    event = decode(b'{"a": 1}', headers)
    assert event.mode == "raw" and event.data == {"a": 1}
    assert event.note.startswith("not a valid CloudEvent") and "source" in event.note


def test_non_json_data_under_a_json_content_type_is_kept_as_text():
    event = decode(b"not json at all", ce_headers("e-4"))
    assert event.mode == "binary" and event.data == "not json at all"


def test_unparsable_ce_time_is_raw_not_a_crash():
    event = decode(b"{}", ce_headers("e-5", time="yesterday"))
    assert event.mode == "raw" and event.note.startswith("not a valid CloudEvent")


def test_broken_structured_body_is_raw():
    event = decode(b"{oops", [("content-type", b"application/cloudevents+json")])
    assert event.mode == "raw" and event.data == "{oops"
    assert event.note.startswith("not a valid CloudEvent")


def test_tombstone_and_missing_key_and_headers():
    event = decode(None, None, key=None)
    assert event.mode == "raw" and event.data is None and event.key is None
    assert event.headers == () and event.raw_value == b""


def test_secret_headers_are_redacted():
    event = decode(b"x", [("Authorization", b"Bearer abc.def"), ("x-api-key", b"k"),
                          ("x-safe", b"v")])
    assert dict(event.headers) == {"Authorization": "REDACTED", "x-api-key": "REDACTED",
                                   "x-safe": "v"}
    assert "abc.def" not in json.dumps(event.to_json())


def test_to_json_has_the_documented_keys_and_serialises():
    event = decode(b'{"id": "r1"}', ce_headers("e-6"))
    out = event.to_json()
    for key in ("topic", "partition", "offset", "id", "type", "subject", "time", "data",
                "transaction_id"):
        assert key in out
    assert out["time"] == "2026-11-26T18:00:00Z"
    json.dumps(out)


def test_trace_id_of_rejects_malformed_and_all_zero_ids():
    assert trace_id_of(TRACEPARENT) == "0af7651916cd43dd8448eb211c80319c"
    assert trace_id_of("00-" + "0" * 32 + "-b7ad6b7169203331-01") is None
    assert trace_id_of("garbage") is None and trace_id_of(None) is None


_HEX = "0123456789abcdef"
#: Traceparents as the gateway writes them, with every way one can differ from that: capitals,
#: spaces, a dash out of place, an all-zero id, a newline, other lengths, nothing at all.
traceparents = st.one_of(
    st.none(), st.just(""),
    st.builds(lambda v, t, s, f: f"{v}-{t}-{s}-{f}", st.text(_HEX, min_size=2, max_size=2),
              st.one_of(st.text(_HEX, min_size=32, max_size=32), st.just("0" * 32)),
              st.text(_HEX, min_size=16, max_size=16), st.text(_HEX, min_size=2, max_size=2)),
    st.builds(lambda t, pad: f"{pad}00-{t}-b7ad6b7169203331-01{pad}",
              st.text(_HEX + "ABCDEF-\n", min_size=31, max_size=33), st.sampled_from(["", " "])),
    st.text(_HEX + "-\n ", max_size=60))


@settings(max_examples=500, deadline=None)
@given(values=st.lists(traceparents, max_size=12))
def test_trace_ids_of_a_batch_are_each_ones_trace_id(values):
    assert trace_ids_of(values) == [trace_id_of(value) for value in values]


def test_trace_ids_of_the_gateways_traceparents_and_odd_ones_among_them():
    good = f"00-{'ab' * 16}-b7ad6b7169203331-01"
    assert trace_ids_of([good, TRACEPARENT]) == ["ab" * 16, "0af7651916cd43dd8448eb211c80319c"]
    zero = "00-" + "0" * 32 + "-b7ad6b7169203331-01"
    assert trace_ids_of([good, zero, None]) == ["ab" * 16, None, None]
    assert trace_ids_of([" " + good.upper(), good + "\n" + good]) == ["ab" * 16, None]
    assert trace_ids_of([]) == []
    # the gateway's length and dashes, but a dash or a newline inside the trace id
    for odd in ("-", "\n"):
        shaped = f"00-{'a' * 31}{odd}-b7ad6b7169203331-01"
        assert trace_ids_of([shaped]) == trace_ids_of([good, shaped])[1:] == [None]


header_names = st.sampled_from(["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time",
                                "content-type", "ce_subject", "x-other", "CE_ID"])


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.none(), st.binary(max_size=64)),
       key=st.one_of(st.none(), st.binary(max_size=8)),
       headers=st.lists(st.tuples(header_names, st.one_of(st.none(), st.binary(max_size=24))),
                        max_size=8))
def test_any_record_decodes_without_raising(value, key, headers):
    event = decode_record("t", 0, 0, 0, key, value, headers)
    assert event.raw_value == (value or b"")
    json.dumps(event.to_json())


def test_secret_members_of_the_data_are_redacted_at_any_depth():
    value = json.dumps({"record": {"fields": {"name": "An", "Password": "hunter2",
                                              "keys": [{"client_secret": "s3"}]}}}).encode()
    for event in (decode(value, ce_headers("e-secret")), decode(value, None)):
        assert event.data["record"]["fields"]["Password"] == "REDACTED"
        assert event.data["record"]["fields"]["keys"] == [{"client_secret": "REDACTED"}]
        assert event.data["record"]["fields"]["name"] == "An"
        shown = json.dumps(event.to_json()) + event.search_text()
        assert "hunter2" not in shown and "s3" not in shown.replace("s3cret", "")


@pytest.mark.parametrize("depth", [900, 5000])
def test_deeply_nested_data_neither_raises_nor_shows_a_secret(depth):
    """A record nested past the parser's depth must not stop the feed (it would be read again
    and again), and one deep enough to defeat the redaction walk is withheld."""
    value = ('{"token": "t0ps3cret", "a": ' + "[" * depth + "]" * depth + "}").encode()
    for headers in (ce_headers("e-deep"), None):
        event = decode(value, headers)
        assert "t0ps3cret" not in str(event.data)


def test_a_secret_member_named_with_json_escapes_is_redacted():
    """The parsed name is what a screen shows, so ``pass\\u0077ord`` is a password too."""
    value = b'{"id": "r1", "pass\\u0077ord": "hunter2", "nested": [{"T\\u006fken": "t0k"}]}'
    for event in (decode(value, ce_headers("e-escaped")), decode(value, None)):
        assert event.data["password"] == "REDACTED"
        assert event.data["nested"] == [{"Token": "REDACTED"}]
        shown = json.dumps(event.to_json()) + event.search_text()
        assert "hunter2" not in shown and "t0k" not in shown


NAMES = st.sampled_from(["id", "name", "record", "Password", "password", "TOKEN", "api_key",
                          "client_secret", "note", "keys"]) | st.text(max_size=6)
SHAPED = st.recursive(
    st.none() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=4),
    max_leaves=12)


def _unredacted(data, secret=False):
    """The values a screen would show under a secret-named member, at any depth."""
    from console.redact import SECRET_FIELDS

    if isinstance(data, dict):
        return [found for key, value in data.items()
                for found in ([value] if key.lower() in SECRET_FIELDS and value != "REDACTED"
                              else _unredacted(value))]
    if isinstance(data, list):
        return [found for item in data for found in _unredacted(item)]
    return []


@settings(max_examples=200, deadline=None)
@given(documents=st.lists(st.dictionaries(NAMES, SHAPED, max_size=4), min_size=1, max_size=6))
def test_objects_of_a_shape_seen_before_still_have_their_secrets_redacted(documents):
    """Objects are checked for secret names once per shape (their names in order): documents
    that share shapes at one depth and differ at another, decoded one after another and again,
    show no secret-named member's value and every other value as sent."""
    records = [record(offset, json.dumps(doc).encode(), ce_headers(f"e-{offset}"))
               for offset, doc in enumerate(documents * 2)]
    for event, doc in zip(decode_records(records), documents * 2, strict=True):
        assert _unredacted(event.data) == []
        assert json.dumps(event.data).count("REDACTED") == json.dumps(doc).count("REDACTED") \
            + len(_unredacted(doc))


def test_the_shapes_remembered_are_bounded_in_number_and_size(monkeypatch):
    """A producer sending objects of ever new names, or of huge names, does not make the feed
    hold them: at most a thousand shapes, none with long or many names."""
    from console.events import decode as module

    monkeypatch.setattr(module, "_SECRET_SHAPES", {})
    huge = {"n" * 5000: 1, "Password": "hunter2"}
    wide = {f"f{i}": i for i in range(200)} | {"token": "t0k"}
    small = {"id": 1, "Password": "hunter2"}
    events = decode_records([record(offset, json.dumps(doc).encode(), ce_headers(f"e-{offset}"))
                             for offset, doc in enumerate([huge, wide, small])])
    assert [event.data.get("Password", event.data.get("token")) for event in events] == \
        ["REDACTED"] * 3
    assert list(module._SECRET_SHAPES) == [tuple(small)]
    for event in decode_records([record(i, json.dumps({f"name{i}": i}).encode(),
                                        ce_headers(f"e-{i}")) for i in range(3000)]):
        assert event.data == {f"name{event.offset}": event.offset}  # the shape seen as read
    assert len(module._SECRET_SHAPES) == 1024


def test_a_gateway_events_data_is_parsed_when_read_and_redacted_every_time():
    """The feed buffers thousands of events and an operator looks into a few: decoding leaves
    a gateway event's JSON data in its value, so the buffer holds no parsed objects for the
    collector to walk again and again (two tracked dicts an event of this shape before); the
    data read is the parsed data with its secrets redacted, on every read, on both paths."""
    doc = {"operation": "POST /customer add-record", "transaction_id": "tx-1",
           "record": {"id": "r1", "fields": {"name": "Nguyễn Văn An", "password": "hunter2"}}}
    value = json.dumps(doc, ensure_ascii=False).encode()
    records = [record(i, value, ce_headers(f"e-{i}")) for i in range(2000)]
    gc.collect()
    tracked = len(gc.get_objects())
    batch = decode_records(records)
    gc.collect()  # what stays tracked once the collector has looked (tuples of text do not)
    assert len(gc.get_objects()) - tracked < 50
    one = decoded_one_by_one(records[:1])[0]
    for event in (batch[0], batch[-1], one):
        shown = {**doc, "record": {"id": "r1", "fields": {"name": "Nguyễn Văn An",
                                                           "password": "REDACTED"}}}
        first, again = event.data, event.data
        assert first == again == shown and first is not again  # parsed anew, redacted again
        assert event.to_json()["data"] == shown
        assert "hunter2" not in event.search_text()
        read = with_data_read(event)  # for a filter and then the line: parsed once, kept
        assert read.data == shown and read.data is read.data and read.raw_value == event.raw_value
        assert with_data_read(read) is read
        # a copy, deep or pickled, still finds its data in its value
        for copied in (copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
            assert copied.data == shown
    assert batch[0] == one


# What the feed decodes a fetched batch with (decode_records) must be what decode_record
# gives, record for record: the gateway's events take a short path, everything else the long.

def record(offset: int, value: bytes | None, headers, key: bytes | None = b"r1",
           timestamp: int | None = 1_700_000_000_000):
    return SimpleNamespace(topic="gateway.events.customer", partition=2, offset=offset,
                           timestamp=timestamp, key=key, value=value, headers=headers)


def decoded_one_by_one(records) -> list:
    return [decode_record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
            for r in records]


def test_a_batch_decodes_as_each_record_alone_for_every_kind_of_record():
    gateway = ce_headers("e-1", traceparent=TRACEPARENT)
    odd = [
        gateway,
        [*gateway, ("ce_partitionkey", b"p1"), ("Authorization", b"Bearer abc.def")],
        [("CE_SPECVERSION", b"1.0"), *[h for h in gateway if h[0] != "ce_specversion"]],
        [*gateway, ("ce_id", b"e-second")],                          # an attribute named twice
        [*gateway, ("content-type", b"text/plain")],                 # the last one counts
        [*gateway[:-1], ("content-type", b"application/vnd.x+json; charset=utf-8")],
        [h for h in gateway if h[0] != "content-type"],              # no content type: JSON
        [h if h[0] != "ce_subject" else ("ce_subject", b"two\nlines") for h in gateway],
        [h if h[0] != "ce_type" else ("ce_type", b"\xc3\x28") for h in gateway],
        [h if h[0] != "ce_time" else ("ce_time", b"") for h in gateway],
        [h if h[0] != "ce_specversion" else ("ce_specversion", b"0.3") for h in gateway],
        [h for h in gateway if h[0] != "ce_source"],
        [h if h[0] != "ce_id" else ("ce_id", b"") for h in gateway],
        [h if h[0] != "x" else h for h in gateway] + [("x-none", None)],
        [("content-type", b"application/cloudevents+json")],
        [("x-origin", b"legacy")],
        None,
    ]
    values = [b'{"id": "r1", "name": "Nguy\xe1\xbb\x85n"}', b'[1, {"password": "p"}]',
              b'{"pass\\u0077ord": "hunter2"}', b"\xef\xbb\xbf{}", b'{\x00"\x00}\x00',
              b'{"a": "\xed\xa0\x80"}', b"{oops", b"not json", b"", None, b"\xff\xfe",
              b'{"specversion": "1.0", "id": "s", "source": "/s", "type": "t", "data": 1, '
              b'"time": "2026-11-26T18:00:00Z"}']  # with a time: the SDK makes up a missing one
    records = [record(i, value, headers, timestamp=1_700_000_000_000 + i // 7)
               for i, (headers, value) in enumerate(
                   (h, v) for h in odd for v in values)]
    batch = decode_records(records)
    one_by_one = decoded_one_by_one(records)
    assert batch == one_by_one
    assert [event.data for event in batch] == [event.data for event in one_by_one]
    assert all(type(event) is FeedEvent for event in batch)
    assert sum(event.mode == "binary" for event in batch) > 20  # the short path was taken
    with pytest.raises(AttributeError):
        batch[0].id = "changed"  # type: ignore[misc]
    # Events are not tracked by the collector (the feed holds thousands): nothing in one may
    # refer to a tracked object that refers back, and decoding never makes such a thing.
    assert not any(gc.is_tracked(event) for event in batch)
    # The correlator's linked copy differs from the event in its transaction id only.
    from console.events.decode import linked_copy

    copies = [linked_copy(event, f"tx-{event.offset}") for event in batch]
    assert [msgspec.structs.asdict(copy) for copy in copies] == [
        msgspec.structs.asdict(event) | {"transaction_id": f"tx-{event.offset}"} for event in batch]
    assert all(type(copy) is FeedEvent for copy in copies)
    assert batch[0].transaction_id is None  # the original is left as it was
    with pytest.raises(AttributeError):
        copies[0].transaction_id = "changed"  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.none(), st.binary(max_size=64),
                       st.sampled_from([b'{"a": 1}', b"[]", b'{"token": "t"}', b"{"])),
       key=st.one_of(st.none(), st.binary(max_size=8)),
       headers=st.lists(st.tuples(header_names, st.one_of(
           st.none(), st.binary(max_size=24),
           st.sampled_from([b"1.0", b"/gateway", b"e-1", b"application/json",
                            b"2026-11-26T18:00:00Z"]))), max_size=8),
       timestamp=st.one_of(st.none(), st.integers(-1, 2**41)))  # -1: a record without one
def test_any_batch_decodes_as_each_record_alone(value, key, headers, timestamp):
    records = [record(0, value, headers, key, timestamp),
               record(1, value, list(reversed(headers)), key, timestamp)]
    assert decode_records(records) == decoded_one_by_one(records)


# The feed's JSON parser: json.loads's answer for every input ---------------------------------

def _same(left: object, right: object) -> bool:
    # repr tells 1 from 1.0 and True, -0.0 from 0.0, and reads NaN as equal to itself
    return type(left) is type(right) and repr(left) == repr(right)


def _parsed(parse, raw):
    try:
        return parse(raw)
    except (ValueError, RecursionError) as exc:
        return f"refused: {type(exc).__name__}"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**80), max_value=2**80) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, ascii_only=st.booleans(), as_bytes=st.booleans())
def test_the_feeds_json_parser_reads_any_document_as_json_loads(value, ascii_only, as_bytes):
    from console.jsontext import loads_json

    text = json.dumps(value, ensure_ascii=ascii_only)
    raw = text.encode("utf-8", "surrogatepass") if as_bytes else text
    assert _same(_parsed(loads_json, raw), _parsed(json.loads, raw))


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(max_size=40), st.text(max_size=40),
                     st.text(alphabet='{}[]",:0123456789.eE+-tfnrulsa\\ud8\xff', max_size=40)))
def test_the_feeds_json_parser_refuses_what_json_loads_refuses(raw):
    from console.jsontext import loads_json

    assert _same(_parsed(loads_json, raw), _parsed(json.loads, raw))


@pytest.mark.parametrize("raw", [
    b'{"iccid": 89840000000000000000}',   # past 64 bits: exact, not a float
    b'{"a": NaN, "b": -Infinity}', b'{"a": 1e400}', b'{"a": "\\ud800"}', b'\xef\xbb\xbf{"a": 1}',
    '{"a": 1}'.encode("utf-16"), b'{"a": "\xed\xa0\x80"}', b"[" * 5000 + b"]" * 5000,
])
def test_the_feeds_json_parser_on_what_only_json_loads_reads(raw):
    from console.jsontext import loads_json

    assert _same(_parsed(loads_json, raw), _parsed(json.loads, raw))


@settings(max_examples=500, deadline=None)
@given(when=st.datetimes(timezones=st.just(UTC)))
def test_event_times_are_written_as_isoformat_writes_them(when):
    """``--json`` lines write times through msgspec when they are UTC (every event's are)."""
    from console.events.decode import _iso

    assert _iso(when) == when.isoformat().replace("+00:00", "Z")
