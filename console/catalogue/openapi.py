"""A catalogue's OpenAPI document (written by :mod:`console.gateway.openapi`), and a catalogue
read from any OpenAPI 3.0 or 3.1 document, JSON or YAML.

A document apilog wrote carries the catalogue's rows and provenance in ``x-apilog-rows``, so
reading it back gives the same rows and operations. Any other document gives one operation per
path and method: the actions come from an ``action`` query parameter's enum where there is one,
else from the method (docs/openapi.md); the contracts come from ``x-apilog-contracts`` (or
``x-apilog-actions``) where present, else from what the document states — rate-limit headers,
XML beside JSON, versions in the servers or the paths — and otherwise there are none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from console.catalogue import vocabulary as vocab
from console.catalogue.errors import CatalogueError
from console.catalogue.model import Contract, ImportNote

#: Methods an OpenAPI path item may hold that the catalogue has no place for.
_UNSERVED_METHODS = ("head", "options", "trace")
_VERSION_SEGMENT = re.compile(r"^/(v\d+)(/.*)$")
_SERVER_VERSION = re.compile(r"/(v\d+)(?:/|$)")
#: Rate-limit response headers: the IETF drafts', Kong's and the common X- forms.
_RATE_HEADER = re.compile(r"^(?:x-)?rate-?limit(?:-(?:policy|limit(?:-(second|minute|hour|day))?))?$", re.I)
_WINDOW_OF_UNIT = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_document(text: str, source: str) -> dict[str, Any]:
    """The OpenAPI document in ``text`` (JSON or YAML), checked to be OpenAPI 3.x with paths."""
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogueError(source, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno,
                                 fix="fix the JSON syntax") from None
    else:
        try:
            document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            if mark is not None and mark.line >= text.count("\n"):
                # Found only at the end of the file (an unclosed bracket): where it was opened.
                mark = getattr(exc, "context_mark", None) or mark
            problem = getattr(exc, "problem", None) or "not YAML"
            raise CatalogueError(source, f"invalid YAML: {problem}", line=mark.line + 1 if mark else None,
                                 fix="fix the YAML syntax (indentation, quotes, a ':' after each key)") from None
    if not isinstance(document, dict):
        raise CatalogueError(source, "not an OpenAPI document (the top level is not a mapping)", line=1,
                             fix="give an OpenAPI 3.0 or 3.1 document, JSON or YAML")
    if "swagger" in document:
        raise CatalogueError(source, f"Swagger {document['swagger']} is not OpenAPI 3", line=_line_of(text, "swagger"),
                             fix="convert it to OpenAPI 3 first (e.g. with swagger2openapi)")
    version = str(document.get("openapi", ""))
    if not re.match(r"^3\.[01]\.\d+", version):
        raise CatalogueError(source, f"openapi: {version or '(missing)'} is not OpenAPI 3.0 or 3.1",
                             line=_line_of(text, "openapi"), fix="give an OpenAPI 3.0.x or 3.1.x document")
    if not isinstance(document.get("paths"), dict) or not document["paths"]:
        raise CatalogueError(source, "the OpenAPI document has no paths", line=_line_of(text, "paths"),
                             fix="describe at least one path with an operation")
    return document


def written_by_apilog(document: dict[str, Any]) -> bool:
    """Whether the document carries the catalogue's own rows (``x-apilog-rows``)."""
    return any(isinstance(op, dict) and "x-apilog-rows" in op
               for item in document["paths"].values() if isinstance(item, dict) for op in item.values())


def rows_from_openapi(document: dict[str, Any], source: str) -> Iterator[dict[str, Any]]:
    """Row records from a document written by ``console.gateway.openapi``."""
    for path, item in document["paths"].items():
        for method, op_doc in (item or {}).items():
            if method.upper() not in vocab.METHODS or not isinstance(op_doc, dict):
                continue
            # Versioned copies of an operation (/v1/…, /v2/…) carry no rows of their own.
            for row in op_doc.get("x-apilog-rows") or ():
                yield {**row, "path": path, "method": method.upper()}


@dataclass
class Imported:
    """Row records (each with the line it came from) and what the importer noticed."""

    records: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)
    notes: list[ImportNote] = field(default_factory=list)


def import_openapi(document: dict[str, Any], text: str, source: str, *, strict: bool) -> Imported:
    """Row records for any OpenAPI 3.x document: one row per operation and stated contract pair."""
    out = Imported()
    resolver = _Resolver(document)
    server_versions = sorted({m.group(1) for s in document.get("servers") or [] if isinstance(s, dict)
                              for m in [_SERVER_VERSION.search(str(s.get("url", "")))] if m}, key=_version_key)
    # (catalogue path, method) -> versions its prefixed copies are served under
    prefixed: dict[tuple[str, str], set[str]] = {}
    for path, item in document["paths"].items():
        match = _VERSION_SEGMENT.match(str(path))
        if match and isinstance(item, dict):
            for method in item:
                prefixed.setdefault((match.group(2), method.lower()), set()).add(match.group(1))
    seen: set[tuple[str, str]] = set()
    for raw_path, item in document["paths"].items():
        path = str(raw_path)
        item = resolver.resolve(item)
        if not isinstance(item, dict):
            continue
        shared_parameters = item.get("parameters") or []
        for method, operation in item.items():
            line = _line_of(text, path, (f"{method}:", f'"{method}"'))
            if method in _UNSERVED_METHODS:
                out.notes.append(ImportNote("info", "method-not-catalogued", len(out.records) + 1, None, line,
                                            f"{method.upper()} {path}: the catalogue holds GET, POST, PUT, PATCH "
                                            "and DELETE only; left out"))
                continue
            if method.upper() not in vocab.METHODS or not isinstance(operation, dict):
                continue
            match = _VERSION_SEGMENT.match(path)
            versions = sorted(prefixed.get((match.group(2), method), ()), key=_version_key) if match else []
            bare = match.group(2) if match and len(versions) > 1 else path
            if (bare, method) in seen:
                continue  # another version's copy of an operation already read
            seen.add((bare, method))
            if len(versions) < 2:
                versions = server_versions
            parameters = [resolver.resolve(p) for p in [*shared_parameters, *(operation.get("parameters") or [])]]
            actions = _actions(parameters, operation, method, resolver, source, line, strict, out)
            for action in actions:
                contracts = _contracts(operation, action, versions, resolver, source, line, path, out)
                results = [c for c in contracts if vocab.kind_of(c.slug) == "result"] or [Contract("no-result")]
                policies = [c for c in contracts if vocab.kind_of(c.slug) == "policy"] or [Contract("no-policy")]
                description = str(operation.get("summary") or operation.get("operationId") or "")
                for n in range(max(len(results), len(policies))):
                    out.records.append(({
                        "path": bare, "method": method.upper(), "action": action,
                        "result": results[min(n, len(results) - 1)].to_dict(),
                        "policy": policies[min(n, len(policies) - 1)].to_dict(),
                        "description": description}, line))
    if not out.records:
        raise CatalogueError(source, "no operation with GET, POST, PUT, PATCH or DELETE in the document",
                             line=_line_of(text, "paths"), fix="describe at least one such operation")
    out.notes.extend(_security_notes(document, text))
    return out


class _Resolver:
    """Local ``$ref`` resolution (``#/components/...``); other references are left as they are."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Any, depth: int = 0) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 20:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                return node
            target: Any = self.document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, dict) else None
            if target is None:
                return {}
            node, depth = target, depth + 1
        return node


def _actions(parameters: list[Any], operation: dict[str, Any], method: str, resolver: _Resolver,
             source: str, line: int | None, strict: bool, out: Imported) -> list[str]:
    """The actions: an ``action`` query parameter's enum, else the one the method implies."""
    for parameter in parameters:
        if not (isinstance(parameter, dict) and parameter.get("in") == "query" and parameter.get("name") == "action"):
            continue
        enum = (resolver.resolve(parameter.get("schema")) or {}).get("enum")
        if not enum:
            continue
        actions = []
        for value in enum:
            found = vocab.match("action", str(value))
            if found.how != "exact":
                message = f"action {value!r} is not an action of the vocabulary; closest: {found.closest!r}"
                if strict:
                    raise CatalogueError(source, message, line=line,
                                         fix="use one of " + ", ".join(vocab.ACTIONS) + " (or their labels)")
                out.notes.append(ImportNote("error", "unknown-action", len(out.records) + 1, None, line, message))
                continue
            actions.append(found.slug)
        if actions:
            return list(dict.fromkeys(actions))
    if method == "get":
        return ["export-data" if _answers_a_list(operation, resolver) else "check-status"]
    return [{"post": "add-record", "put": "update-config", "patch": "update-config",
             "delete": "delete-info"}[method]]


def _answers_a_list(operation: dict[str, Any], resolver: _Resolver) -> bool:
    for status, response in (operation.get("responses") or {}).items():
        if not str(status).startswith("2"):
            continue
        for media in (resolver.resolve(response).get("content") or {}).values():
            schema = resolver.resolve((media or {}).get("schema")) or {}
            if schema.get("type") == "array" or (isinstance(schema.get("type"), list) and "array" in schema["type"]):
                return True
    return False


def _contracts(operation: dict[str, Any], action: str, versions: list[str], resolver: _Resolver,
               source: str, line: int | None, path: str, out: Imported) -> list[Contract]:
    """``x-apilog-contracts`` / ``x-apilog-actions`` where present, else what the document states."""
    stated = operation.get("x-apilog-contracts")
    per_action = operation.get("x-apilog-actions")
    if stated is None and isinstance(per_action, dict) and isinstance(per_action.get(action), dict):
        stated = per_action[action].get("contracts")
    if stated is not None:
        return [_stated_contract(item, source, line) for item in stated]
    contracts: list[Contract] = []
    limit = _rate_limit(operation, resolver, line, path, out)
    if limit is not None:
        contracts.append(limit)
    if len(versions) > 1:
        contracts.append(Contract("versioning", {"versions": versions}))
    if _offers_json_and_xml(operation, resolver):
        contracts.append(Contract("json-xml"))
    return contracts


def _stated_contract(item: Any, source: str, line: int | None) -> Contract:
    fix = "write each contract as a slug, a printed label or {\"kind\": slug, …parameters}"
    if isinstance(item, dict) and isinstance(item.get("kind"), str):
        contract = Contract.from_dict(item)
        try:
            vocab.term(contract.slug)
        except KeyError:
            raise CatalogueError(source, f"x-apilog contract kind {contract.slug!r} is unknown", line=line,
                                 fix=fix) from None
        return contract
    if isinstance(item, str):
        for kind in ("result", "policy"):
            found = vocab.match(kind, item)
            if found.how == "exact":
                return Contract(found.slug, found.params)
    raise CatalogueError(source, f"x-apilog contract {item!r} is not in the vocabulary", line=line, fix=fix)


def _rate_limit(operation: dict[str, Any], resolver: _Resolver, line: int | None, path: str,
                out: Imported) -> Contract | None:
    row = len(out.records) + 1
    """A rate-limit contract from the rate-limit headers the responses declare, with the number
    their examples state (``q=``/``limit=`` and ``w=`` of the IETF drafts, or a bare integer)."""
    limit = window = None
    declared = []
    for response in (operation.get("responses") or {}).values():
        for name, header in (resolver.resolve(response).get("headers") or {}).items():
            match = _RATE_HEADER.match(str(name))
            if not match:
                continue
            declared.append(str(name))
            if match.group(1):
                window = window or _WINDOW_OF_UNIT[match.group(1).lower()]
            for text in _examples(resolver.resolve(header)):
                quota = re.search(r"(?:\bq|\blimit)=(\d+)", text)
                bare = re.fullmatch(r"\s*(\d+)\s*", text)
                found = quota or bare
                if found:
                    limit = limit or int(found.group(1))
                w = re.search(r"\bw=(\d+)", text)
                window = window or (int(w.group(1)) if w else None)
    if not declared:
        return None
    if limit is None:
        out.notes.append(ImportNote("info", "rate-limit-unstated", row, None, line,
                                    f"{path}: declares {', '.join(sorted(set(declared)))} but no limit in "
                                    "an example; no rate-limit contract"))
        return None
    if window is None:
        out.notes.append(ImportNote("info", "rate-limit-window", row, None, line,
                                    f"{path}: the rate limit of {limit} states no window; read as per minute"))
    return Contract("rate-limit", {"limit": limit, "window_s": window or 60})


def _examples(node: Any) -> Iterator[str]:
    """Every example value written in a header or its schema."""
    if not isinstance(node, dict):
        return
    schema = node.get("schema")
    for holder in (node, schema if isinstance(schema, dict) else {}):
        for key in ("example", "const", "default"):
            if key in holder:
                yield str(holder[key])
        examples = holder.get("examples")
        if isinstance(examples, list):
            yield from (str(e) for e in examples)
        elif isinstance(examples, dict):
            yield from (str(e.get("value")) for e in examples.values() if isinstance(e, dict))


def _offers_json_and_xml(operation: dict[str, Any], resolver: _Resolver) -> bool:
    types: set[str] = set()
    body = resolver.resolve(operation.get("requestBody")) or {}
    types.update((body.get("content") or {}).keys())
    for response in (operation.get("responses") or {}).values():
        types.update((resolver.resolve(response).get("content") or {}).keys())
    folded = {t.split(";")[0].strip().lower() for t in types}
    json_like = any(t == "application/json" or t.endswith("+json") for t in folded)
    xml_like = any(t in ("application/xml", "text/xml") or t.endswith("+xml") for t in folded)
    return json_like and xml_like


def _security_notes(document: dict[str, Any], text: str) -> list[ImportNote]:
    """The document's security schemes, for the profile (apilog checks OAuth2 on every operation,
    so a scheme is no contract of one)."""
    notes = []
    schemes = ((document.get("components") or {}).get("securitySchemes") or {})
    for name, scheme in schemes.items():
        if not isinstance(scheme, dict):
            continue
        kind = str(scheme.get("type", "?"))
        detail = kind
        if kind == "oauth2":
            flows = scheme.get("flows") or {}
            credentials = flows.get("clientCredentials") or {}
            detail = "oauth2 " + ", ".join(flows) + (
                f"; token_url for the profile: {credentials['tokenUrl']}" if credentials.get("tokenUrl") else "")
        elif kind == "http":
            detail = f"http {scheme.get('scheme', '')}".strip()
        notes.append(ImportNote("info", "security-scheme", None, None, _line_of(text, name),
                                f"security scheme {name}: {detail}"))
    return notes


def _version_key(version: str) -> int:
    return int(version[1:])


def _line_of(text: str, *needles: str | tuple[str, ...]) -> int | None:
    """The line of the first needle, then of the next needle after it (a key under a key); a
    tuple offers alternatives (the same key as JSON and as YAML writes it)."""
    start = 0
    found = None
    for needle in needles:
        options = needle if isinstance(needle, tuple) else (needle,)
        hits = [at for at in (text.find(option, start) for option in options) if at >= 0]
        if not hits:
            continue
        found = min(hits)
        start = found + 1
    return None if found is None else text.count("\n", 0, found) + 1
