"""The json-xml contract's one JSON↔XML mapping, so that the same data reads equal in both formats.

It lives with the catalogue because it is part of what the ``json-xml`` promise means: the
gateway serves it, and the console (caller, conformance) reads and writes it as an outside
client would, without importing the gateway.

The mapping (also in ``docs/gateway-edge.md``):

* The whole value is the root element (``<response>`` unless told otherwise).
* An object is an element whose children are its members, one child element per key, in order.
  A key that is not a plain XML name (``[A-Za-z_][A-Za-z0-9_.-]*``, not starting with ``xml``)
  becomes ``<item key="the key">``. An empty object is ``<x type="object"/>``.
* An array is ``<x type="array">`` with one ``<i>`` child per item.
* A string is the element's text, no attribute (``<x/>`` is ``""``). A string holding characters
  XML 1.0 cannot carry (NUL, most control characters, lone surrogates) is sent as
  ``<x encoding="base64">`` of its UTF-8 bytes.
* A number is ``<x type="number">12.5</x>``; it reads back as an int when it has no fraction or
  exponent. ``true``/``false`` are ``<x type="boolean">``; null is ``<x type="null"/>``.

Reading is strict: mixed content, repeated member names, unknown ``type`` values and nesting
past :data:`MAX_DEPTH` raise :class:`XmlMappingError` naming the element (the gateway answers
them as 400 problems). XML is parsed only with
defusedxml, and a DTD, an entity declaration or an external reference is refused outright.
"""

from __future__ import annotations

import base64
import math
import re
import sys
import time
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import ParseError, TreeBuilder

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from console.errors import ApilogError


class XmlMappingError(ApilogError, ValueError):
    """An XML body that is malformed, hostile or outside the mapping.

    ``detail`` is one sentence for the user; ``members`` are extra facts (``line``, ``column``,
    ``refused``, ``element``) that the gateway adds to its problem body.
    """

    def __init__(self, detail: str, **members: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.members = members

#: Deepest nesting accepted in either direction; deeper bodies are refused with a 400.
MAX_DEPTH = 200

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
    "\t": "&#9;", "\n": "&#10;", "\r": "&#13;",
})


def to_xml(data: Any, root: str = "response", *, namespace: str | None = None) -> bytes:
    """Serialize JSON-shaped ``data`` as UTF-8 XML under the element ``root``."""
    out = ['<?xml version="1.0" encoding="utf-8"?>\n']
    extra = {"xmlns": namespace} if namespace else {}
    write_element(out, root, data, extra_attrs=extra)
    return "".join(out).encode("utf-8")


def write_element(
    out: list[str],
    name: str,
    value: Any,
    *,
    typed: bool = True,
    extra_attrs: dict[str, str] | None = None,
    depth: int = 0,
) -> None:
    """Append ``value`` as the element ``name`` to ``out``, following the module's mapping.

    ``typed=False`` writes a scalar as bare text, for schemas (like RFC 9457's) that fix the
    type of an element themselves.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"data nested deeper than {MAX_DEPTH} levels cannot be written as XML")
    attrs = dict(extra_attrs or {})
    if not _is_plain_name(name):
        attrs.update(_key_attrs(name))
        name = "item"
    children: list[tuple[str, Any]] | None = None
    text = ""
    if value is None:
        attrs["type"] = "null"
    elif isinstance(value, bool):
        attrs["type"] = "boolean"
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} is not a JSON number and cannot be written as XML")
        attrs["type"] = "number"
        text = repr(value) if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        if _NOT_XML_CHAR.search(value):
            attrs["encoding"] = "base64"
            text = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
        else:
            text = value
    elif isinstance(value, dict):
        children = [(str(key), item) for key, item in value.items()]
        if not children:
            attrs["type"] = "object"
    elif isinstance(value, list | tuple):
        attrs["type"] = "array"
        children = [("i", item) for item in value]
    else:
        raise TypeError(f"{type(value).__name__} is not JSON-shaped data and cannot be written as XML")
    if not typed and attrs.get("type") in ("number", "boolean"):
        del attrs["type"]
    attr_text = "".join(f' {key}="{val.translate(_ATTR_ESCAPES)}"' for key, val in attrs.items())
    if children:
        out.append(f"<{name}{attr_text}>")
        for child_name, child in children:
            write_element(out, child_name, child, depth=depth + 1)
        out.append(f"</{name}>")
    elif text:
        out.append(f"<{name}{attr_text}>{text.translate(_TEXT_ESCAPES)}</{name}>")
    else:
        out.append(f"<{name}{attr_text}/>")


def from_xml(raw: bytes, *, max_elements: int | None = None, deadline: float | None = None) -> Any:
    """Parse an XML body with defusedxml and read it back through the mapping.

    Raises :class:`XmlMappingError` for malformed XML (with line and column), for a DTD, an entity
    declaration or an external reference (naming which, in the ``refused`` member), for
    elements that break the mapping, and for a body past the bounds of :func:`parse_xml`.
    """
    root = parse_xml(raw, max_elements=max_elements, deadline=deadline)
    return _read(root, "/" + _local(root.tag), 0)


class _BoundedBuilder(TreeBuilder):
    """A tree builder that stops the parse past ``max_elements``, past :data:`MAX_DEPTH` and past
    ``deadline`` (``time.monotonic()``), so that a hostile body costs bounded work."""

    def __init__(self, max_elements: int | None, deadline: float | None) -> None:
        super().__init__()
        self.max_elements = max_elements
        self.deadline = deadline
        self.elements = 0
        self.depth = 0

    def start(self, tag: Any, attrs: Any) -> Any:
        self.elements += 1
        self.depth += 1
        if self.max_elements is not None and self.elements > self.max_elements:
            raise XmlMappingError(f"the XML body holds more than {self.max_elements} elements; "
                                  "send fewer (split the data over several requests)",
                                  limit="elements", max_elements=self.max_elements)
        if self.depth > MAX_DEPTH + 1:
            raise XmlMappingError(f"the XML body nests deeper than {MAX_DEPTH} levels", limit="depth")
        if self.deadline is not None and self.elements % 256 == 0 and time.monotonic() > self.deadline:
            raise XmlMappingError("the XML body could not be read in the time allowed; retry later "
                                  "or send a smaller body", limit="time")
        return super().start(tag, attrs)

    def end(self, tag: Any) -> Any:
        self.depth -= 1
        return super().end(tag)


def parse_xml(raw: bytes, *, max_elements: int | None = None, deadline: float | None = None) -> Any:
    """The root ``Element`` of ``raw``, parsed by defusedxml with DTDs, entities and external
    references forbidden; failures raise :class:`XmlMappingError`.

    ``max_elements`` and ``deadline`` (``time.monotonic()``) bound the work; nesting is always
    bounded by :data:`MAX_DEPTH`. A refusal names the bound in its ``limit`` member.
    """
    parser = DefusedXMLParser(target=_BoundedBuilder(max_elements, deadline),
                              forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(raw)
        return parser.close()
    except DTDForbidden as exc:
        raise _refused("dtd", f"a document type declaration (<!DOCTYPE {exc.name}>)") from None
    except EntitiesForbidden as exc:
        raise _refused("entity", f"an entity declaration (<!ENTITY {exc.name}>)") from None
    except ExternalReferenceForbidden as exc:
        target = exc.system_id or exc.public_id or "?"
        raise _refused("external-reference", f"an external reference ({target})") from None
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise XmlMappingError(
            f"malformed XML at line {line}, column {column + 1}: {reason}",
            line=line, column=column + 1,
        ) from None


def _refused(what: str, found: str) -> XmlMappingError:
    return XmlMappingError(
        f"XML body refused: it contains {found}; DTDs, entity declarations and external "
        "references are never processed. Send plain XML without a DOCTYPE.",
        refused=what,
    )


def _read(element: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _mapping_error(where, f"nested deeper than {MAX_DEPTH} levels")
    kind = element.get("type")
    children = list(element)
    text = element.text or ""
    if children and text.strip():
        raise _mapping_error(where, "mixes text with child elements")
    for child in children:
        if child.tail and child.tail.strip():
            raise _mapping_error(where, "mixes text with child elements")
    if kind == "array":
        items = []
        for index, child in enumerate(children, start=1):
            if _local(child.tag) != "i":
                raise _mapping_error(where, f'holds <{_local(child.tag)}>: array items are <i>')
            items.append(_read(child, f"{where}/i[{index}]", depth + 1))
        return items
    if kind == "object" or (kind is None and children):
        return _read_object(element, children, where, depth)
    if children:
        raise _mapping_error(where, f'has type="{kind}" but holds child elements')
    if kind is None or kind == "string":
        return _read_text(element, text, where)
    if kind == "null":
        if text.strip():
            raise _mapping_error(where, 'has type="null" but holds text')
        return None
    if kind == "boolean":
        value = text.strip()
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise _mapping_error(where, f'has type="boolean" but holds {value!r}: use true or false')
    if kind == "number":
        value = text.strip()
        if _INT.match(value):
            try:
                return int(value)
            except ValueError:  # past Python's int-conversion limit (4,300 digits)
                raise _mapping_error(where, f"holds an integer of {len(value)} digits: send at most "
                                     f"{sys.get_int_max_str_digits()} digits, or a string") from None
        if _NUMBER.match(value):
            number = float(value)
            if not math.isfinite(number):
                raise _mapping_error(where, f"holds the number {value[:40]}, beyond the range of a "
                                     "64-bit float: send a smaller number")
            return number
        raise _mapping_error(where, f'has type="number" but holds {value!r}')
    raise _mapping_error(
        where, f'has type="{kind}": use object, array, string, number, boolean or null'
    )


def _read_object(element: Any, children: list[Any], where: str, depth: int) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for child in children:
        key = _child_key(child, where)
        if key in members:
            raise _mapping_error(where, f"repeats the member <{key}>: use type=\"array\" for lists")
        members[key] = _read(child, f"{where}/{key}", depth + 1)
    return members


def _child_key(child: Any, where: str) -> str:
    key = child.get("key")
    if key is None:
        return _local(child.tag)
    if child.get("key-encoding") == "base64":
        return _decode_base64(key, where)
    return key


def _read_text(element: Any, text: str, where: str) -> str:
    if element.get("encoding") == "base64":
        return _decode_base64(text, where)
    return text


def _decode_base64(text: str, where: str) -> str:
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", "surrogatepass")
    except ValueError:
        raise _mapping_error(where, 'has encoding="base64" but does not hold base64 UTF-8 text') from None


def _mapping_error(where: str, what: str) -> XmlMappingError:
    return XmlMappingError(f"XML element {where} {what}", element=where)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


@lru_cache(maxsize=4096)
def _is_plain_name(name: str) -> bool:
    return bool(_NAME.match(name)) and not name.lower().startswith("xml")


def _key_attrs(key: str) -> dict[str, str]:
    if _NOT_XML_CHAR.search(key):
        encoded = base64.b64encode(key.encode("utf-8", "surrogatepass")).decode("ascii")
        return {"key": encoded, "key-encoding": "base64"}
    return {"key": key}
