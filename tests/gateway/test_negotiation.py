"""Negotiation (Accept, Content-Type), body parsing and the JSON↔XML mapping, against the real
defusedxml parser and hostile payloads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.gateway.negotiation import choose_format, parse_body, prefers_xml, render
from console.gateway.problems import Problem
from console.gateway.xmlcodec import MAX_DEPTH, from_xml, to_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<r><name>&xxe;</name></r>"""
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>'


# --- choose_format / prefers_xml ---------------------------------------------------------------

@pytest.mark.parametrize(("accept", "xml_allowed", "expected"), [
    (None, True, "json"),
    ("", True, "json"),
    ("*/*", True, "json"),
    ("application/xml", True, "xml"),
    ("text/xml", True, "xml"),
    ("application/problem+xml", True, "xml"),
    ("application/json", True, "json"),
    ("application/problem+json", False, "json"),
    ("application/xml;q=0.5, application/json;q=0.9", True, "json"),
    ("application/xml;q=0.9, application/json;q=0.5", True, "xml"),
    ("application/xml, */*;q=0.1", True, "xml"),
    ("application/xml, */*", True, "xml"),          # tie on q: the explicit range wins
    ("application/*", True, "json"),
    ("text/*", True, "xml"),
    ("application/xml, application/json", True, "json"),  # true tie: JSON is the default
    ("application/xml, */*;q=0.1", False, "json"),
    ("*/*;q=0.2, application/json;q=0", True, "xml"),     # JSON refused explicitly
    ("application/JSON; charset=utf-8", True, "json"),
    ("garbage, application/xml", True, "xml"),
])
def test_choose_format(accept, xml_allowed, expected):
    assert choose_format(accept, xml_allowed) == expected


@pytest.mark.parametrize(("accept", "xml_allowed"), [
    ("application/xml", False),
    ("text/html", True),
    ("application/json;q=0", True),
    ("*/*;q=0", True),
    ("garbage", True),
    ("application/json;q=abc", True),
])
def test_choose_format_refuses_with_406(accept, xml_allowed):
    with pytest.raises(Problem) as caught:
        choose_format(accept, xml_allowed)
    assert caught.value.status == 406
    assert "application/json" in caught.value.detail


def test_prefers_xml_ignores_the_operation_so_a_406_can_be_xml():
    assert prefers_xml("application/xml")
    assert prefers_xml("application/problem+xml, application/json;q=0.5")
    assert not prefers_xml(None)
    assert not prefers_xml("*/*")
    assert not prefers_xml("application/xml;q=0.1, application/json")


# --- parse_body ----------------------------------------------------------------------------------

def test_empty_body_is_none_whatever_the_type():
    assert parse_body(None, b"", xml_allowed=False, max_bytes=10) is None
    assert parse_body("text/plain", b"  \n", xml_allowed=False, max_bytes=10) is None


def test_json_and_xml_bodies_read_equal():
    data = {"name": "Ana", "tags": ["a"], "age": 7, "vip": False, "note": None}
    as_json = parse_body("application/json; charset=utf-8", json.dumps(data).encode(), True, 4096)
    as_xml = parse_body("application/xml", to_xml(data, root="request"), True, 4096)
    assert as_json == as_xml == data
    assert parse_body("application/merge-patch+json", b'{"a": 1}', False, 100) == {"a": 1}


def test_too_large_is_413_before_anything_is_parsed():
    with pytest.raises(Problem) as caught:
        parse_body("application/json", b"{" * 101, xml_allowed=True, max_bytes=100)
    assert caught.value.status == 413
    assert "100" in caught.value.detail


@pytest.mark.parametrize(("content_type", "xml_allowed", "needle"), [
    ("text/plain", True, "text/plain"),
    ("application/x-www-form-urlencoded", False, "x-www-form-urlencoded"),
    ("application/xml", False, "JSON only"),
    (None, False, "no Content-Type"),
])
def test_unsupported_media_types_are_415(content_type, xml_allowed, needle):
    with pytest.raises(Problem) as caught:
        parse_body(content_type, b"<a/>", xml_allowed, 100)
    assert caught.value.status == 415
    assert needle in caught.value.detail


def test_malformed_json_names_line_and_column():
    with pytest.raises(Problem) as caught:
        parse_body("application/json", b'{\n  "a": 1,\n  "b": }', False, 1000)
    assert caught.value.status == 400
    assert "line 3, column 8" in caught.value.detail
    assert caught.value.extensions == {"line": 3, "column": 8}


@pytest.mark.parametrize("raw", [b"NaN", b'{"a": Infinity}', b"\xff\xfe{", ("[" * 5000).encode()])
def test_non_json_values_and_hostile_nesting_are_400(raw):
    with pytest.raises(Problem) as caught:
        parse_body("application/json", raw, False, 100_000)
    assert caught.value.status == 400


def test_json_nesting_past_the_limit_is_400():
    raw = ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()
    with pytest.raises(Problem) as caught:
        parse_body("application/json", raw, False, 100_000)
    assert "deeper" in caught.value.detail


def test_malformed_xml_names_line_and_column():
    with pytest.raises(Problem) as caught:
        parse_body("application/xml", b"<r>\n  <a>1</b>\n</r>", True, 1000)
    assert caught.value.status == 400
    assert "line 2, column" in caught.value.detail
    assert caught.value.extensions["line"] == 2


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_dtds_entities_and_external_references_are_refused(payload):
    with pytest.raises(Problem) as caught:
        parse_body("application/xml", payload, True, 100_000)
    assert caught.value.status == 400
    assert caught.value.extensions["refused"] == "dtd"
    assert "DOCTYPE" in caught.value.detail


def test_undeclared_entity_is_malformed_not_expanded():
    with pytest.raises(Problem) as caught:
        from_xml(b"<r>&xxe;</r>")
    assert caught.value.status == 400
    assert "undefined entity" in caught.value.detail


# --- the mapping -----------------------------------------------------------------------------------

def test_documented_shape():
    data = {"id": "c1", "tags": ["a", "b"], "n": 2, "ok": True, "gone": None, "cfg": {}, "bad key": "v"}
    assert to_xml(data).decode() == (
        '<?xml version="1.0" encoding="utf-8"?>\n<response><id>c1</id>'
        '<tags type="array"><i>a</i><i>b</i></tags><n type="number">2</n>'
        '<ok type="boolean">true</ok><gone type="null"/><cfg type="object"/>'
        '<item key="bad key">v</item></response>'
    )


def test_pretty_printed_xml_is_read():
    raw = b"""<?xml version="1.0"?>
    <request>
      <name>Ana</name>
      <tags type="array">
        <i>x</i>
      </tags>
    </request>"""
    assert from_xml(raw) == {"name": "Ana", "tags": ["x"]}


def test_namespaces_are_ignored_on_read():
    assert from_xml(b'<r xmlns="urn:x"><a type="number">1</a></r>') == {"a": 1}


@pytest.mark.parametrize(("raw", "needle"), [
    (b"<r>text<a/></r>", "mixes text"),
    (b"<r><a/><a/></r>", "repeats the member <a>"),
    (b'<r type="array"><x/></r>', "array items are <i>"),
    (b'<r type="number">12abc</r>', "12abc"),
    (b'<r type="boolean">yes</r>', "true or false"),
    (b'<r type="date">x</r>', 'type="date"'),
    (b'<r type="null">x</r>', "null"),
    (b'<r encoding="base64">!!</r>', "base64"),
])
def test_mapping_violations_are_400_naming_the_element(raw, needle):
    with pytest.raises(Problem) as caught:
        from_xml(raw)
    assert caught.value.status == 400
    assert needle in caught.value.detail
    assert caught.value.detail.startswith("XML element /r")


def test_xml_nesting_past_the_limit_is_400():
    raw = b"<a>" * (MAX_DEPTH + 2) + b"x" + b"</a>" * (MAX_DEPTH + 2)
    with pytest.raises(Problem) as caught:
        from_xml(raw)
    assert "deeper" in caught.value.detail


def test_to_xml_refuses_what_json_cannot_hold():
    with pytest.raises(ValueError):
        to_xml({"x": float("nan")})
    with pytest.raises(TypeError):
        to_xml({"x": object()})


def test_render_both_formats():
    body, media_type = render({"a": [1]}, "json")
    assert (json.loads(body), media_type) == ({"a": [1]}, "application/json")
    body, media_type = render({"a": [1]}, "xml")
    assert (from_xml(body), media_type) == ({"a": [1]}, "application/xml")


json_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_data = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_data)
def test_json_to_xml_to_json_round_trip(data):
    """Any JSON value, including odd keys and strings XML cannot carry, reads back equal."""
    from_json = json.loads(json.dumps(data))
    assert from_xml(to_xml(from_json)) == from_json
    assert parse_body("application/xml", render(from_json, "xml")[0], True, 10**7) == \
        parse_body("application/json", render(from_json, "json")[0], True, 10**7)


def test_strings_and_keys_xml_cannot_carry_travel_as_base64():
    data = {"xmlns": "\x00\x1b", "\ud800": "lone \udfff surrogate", "cr": "a\r\nb", "i": []}
    raw = to_xml(data)
    assert b'encoding="base64"' in raw and b'key="xmlns"' in raw
    assert from_xml(raw) == data


@pytest.mark.parametrize(("raw", "needle", "extensions"), [
    (b'{"a": 1e400}', "the number 1e400", {}),
    (b'{"a": [0, -1e999]}', "the number -1e999", {}),
    (b'{"a": NaN}', "NaN", {}),
    (b'{"a": -Infinity}', "-Infinity", {}),
    (b'{"a": "x\\ud800"}', "surrogate (\\ud800) in the string at /a", {"pointer": "/a"}),
    (b'{"a": [{"b/c": "\\udfff"}]}', "at /a/0/b~1c", {"pointer": "/a/0/b~1c"}),
    (b'{"\\udc00": 1}', "in a member name under /", {"pointer": "/"}),
])
def test_json_that_could_not_be_stored_is_400_naming_what_and_where(raw, needle, extensions):
    with pytest.raises(Problem) as caught:
        parse_body("application/json", raw, False)
    assert caught.value.status == 400
    assert needle in caught.value.detail
    assert caught.value.extensions == extensions


def test_a_valid_surrogate_pair_escape_is_accepted():
    assert parse_body("application/json", b'{"a": "\\ud83d\\ude00"}', False) == {"a": "\U0001f600"}


def test_unstorable_xml_bodies_are_400():
    """The codec carries lone surrogates (base64) for answers; a request body may not hold one."""
    with pytest.raises(Problem) as caught:
        parse_body("application/xml", b'<r><n type="number">1e400</n></r>', True)
    assert caught.value.status == 400 and "1e400" in caught.value.detail
    with pytest.raises(Problem) as caught:
        parse_body("application/xml", to_xml({"a": "lone \ud800"}, root="request"), True)
    assert caught.value.status == 400 and "/a" in caught.value.detail


def _outcome(raw: bytes) -> object:
    try:
        value = parse_body("application/json", raw, False)
    except Problem as problem:
        return ("problem", problem.status, problem.detail, problem.extensions)
    return (type(value).__name__, repr(value))  # repr tells 1 from 1.0 and -0.0 from 0.0


def _standard_decoder_only(raw: bytes) -> object:
    from unittest import mock

    with mock.patch("console.gateway.negotiation.loads_json", lambda text, fallback: fallback(text)):
        return _outcome(raw)


body_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=body_values, ascii_only=st.booleans())
def test_a_json_body_reads_as_the_standard_decoder_reads_it(value, ascii_only):
    """Bodies are parsed by msgspec where it can: the value, or the 400 and its words, are what
    the gateway's standard decoder gives (NaN, 1e400 and lone surrogates included)."""
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert _outcome(raw) == _standard_decoder_only(raw)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(max_size=40),
                     st.text(alphabet='{}[]",:0123456789.eE+-tfnrulsaNI\\ud8\xff \n', max_size=40)
                     .map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_a_malformed_json_body_is_refused_as_the_standard_decoder_refuses_it(raw):
    assert _outcome(raw) == _standard_decoder_only(raw)
