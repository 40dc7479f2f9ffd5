"""The one OpenAPI 3.1 document of a catalogue: served at ``/openapi.json``, written by
``apilog catalogue export --format openapi``.

It describes what the reference gateway really answers, so that generic tools can use it: a mock
server answers every catalogued operation with a 2xx, schemathesis holds the gateway to it, and
redocly and spectral lint it clean.

The gateway names the action in the query (``?action=<slug>``), which an OpenAPI path cannot
carry, so each path item has one operation per method (and per ``/vN`` prefix for operations
with the versioning note) whose required ``action`` parameter enumerates the catalogued actions.
What differs between those actions is stated per action in ``x-apilog-actions`` (the scope,
the success status, the record id or the Idempotency-Key the action requires, its contracts),
documented in docs/openapi.md. The catalogue's rows ride in ``x-apilog-rows`` on the
unversioned operations, so reading the document back gives the same catalogue.
"""

from __future__ import annotations

import json
from typing import Any

from console.catalogue import Catalogue, Operation
from console.catalogue import vocabulary as vocab
from console.catalogue.vocabulary import NON_IDEMPOTENT_METHODS, QUERY_METHODS
from console.gateway.auth import ADMIN_SCOPE, all_scopes
from console.gateway.domains import MAX_ID_LENGTH, MAX_PAGE
from console.gateway.idempotency import MAX_KEY_LENGTH
from console.gateway.inputs import RECORD_ID_PATTERN
from console.gateway.ratelimit import Decision, rate_limit_headers
from console.gateway.routing import versions_of
from console.gateway.settings import GatewaySettings
from console.gateway.versioning import v1_headers

#: Where ``apilog gateway`` listens unless told otherwise; the export's default server.
DEFAULT_SERVER = f"http://{GatewaySettings.host}:{GatewaySettings.port}"

#: The HTTP status each action answers on success.
SUCCESS_STATUS = {"add-record": 201, "delete-info": 204, "check-status": 200, "export-data": 200,
                  "update-config": 200}
#: Actions that fail without a record id (the query parameter ``id`` or ``id`` in the body).
NEEDS_RECORD_ID = frozenset({"delete-info"})

#: A record id: a string or an integer; null or "" counts as absent.
#: What the gateway takes as a record id wherever it comes from (console.gateway.inputs).
_ID_PATTERN = f"^{RECORD_ID_PATTERN.pattern}$"
_ID_SCHEMA = {"type": ["string", "integer", "null"], "maxLength": MAX_ID_LENGTH,
              "pattern": _ID_PATTERN}
_LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
_CURSOR_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 2**62}

#: The input each action reads and the values it refuses with a 400; any other member of the
#: input is stored (a record's fields, configuration keys) or ignored. Each action's rules go in
#: ``x-apilog-actions``; an operation's own schemas state only what all its actions refuse.
ACTION_INPUT: dict[str, dict[str, dict[str, Any]]] = {
    "add-record": {"id": _ID_SCHEMA},
    "check-status": {"id": _ID_SCHEMA},
    "delete-info": {"id": {"type": ["string", "integer"], "minLength": 1, "maxLength": MAX_ID_LENGTH,
                           "pattern": _ID_PATTERN}},
    "export-data": {"limit": _LIMIT_SCHEMA, "cursor": _CURSOR_SCHEMA},
    "update-config": {},
}
#: An Idempotency-Key as the gateway reads it: 1 to MAX_KEY_LENGTH printable characters,
#: quotes optional (the printable Latin-1 an HTTP header can carry).
_PRINTABLE = " -~\u00a1-\u00ac\u00ae-\u00ff"
_KEY_PATTERN = f'^(?:"[{_PRINTABLE}]{{1,{MAX_KEY_LENGTH}}}"|[{_PRINTABLE}]{{1,{MAX_KEY_LENGTH}}})$'
_INPUT_DESCRIPTIONS = {"id": "Record id", "limit": "Records per page (export-data)",
                       "cursor": "`next_cursor` of the previous page (export-data)"}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "Problem details (RFC 9457); extension members beside the standard ones",
        "required": ["type", "title", "status"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "detail": {"type": "string"},
                       "instance": {"type": "string"}},
    },
    "Record": {
        "type": "object",
        "required": ["id", "domain", "fields", "status", "created_at", "updated_at"],
        "properties": {"id": {"type": "string"}, "domain": {"type": "string"},
                       "fields": {"type": "object"}, "status": {"type": "string"},
                       "created_at": {"type": "string"}, "updated_at": {"type": "string"}},
    },
    "DomainStatus": {
        "type": "object",
        "required": ["domain", "status", "records", "config_keys"],
        "properties": {"domain": {"type": "string"}, "status": {"type": "string"},
                       "records": {"type": "integer"}, "config_keys": {"type": "integer"}},
    },
    "ExportPage": {
        "type": "object",
        "required": ["items", "count", "next_cursor"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                       "count": {"type": "integer"},
                       "next_cursor": {"type": ["string", "null"]}},
    },
    "Config": {
        "type": "object",
        "required": ["domain", "config", "updated_at"],
        "properties": {"domain": {"type": "string"}, "config": {"type": "object"},
                       "updated_at": {"type": "string"}},
    },
    "Meta": {
        "type": "object",
        "description": "v2 envelope: request facts",
        "required": ["version", "request_id", "operation"],
        "properties": {"version": {"type": "string"}, "request_id": {"type": "string"},
                       "operation": {"type": "string"}, "transaction_id": {"type": "string"},
                       "event_id": {"type": "string"}},
    },
}

#: The body of each action's success, by action (wrapped in the v2 envelope where versioned).
RESULT_SCHEMA: dict[str, dict[str, Any]] = {
    "check-status": {"anyOf": [{"$ref": "#/components/schemas/Record"},
                               {"$ref": "#/components/schemas/DomainStatus"}]},
    "export-data": {"$ref": "#/components/schemas/ExportPage"},
    "update-config": {"$ref": "#/components/schemas/Config"},
    "add-record": {"$ref": "#/components/schemas/Record"},
}

ERRORS = {
    "400": "Bad request: missing action or id, malformed body, bad or missing Idempotency-Key",
    "401": "No token, or an invalid or expired one (RFC 6750 challenge)",
    "403": "The token lacks the action's scope",
    "404": "Action not catalogued for this path and method, or no such record",
    "406": "No acceptable response format",
    "409": "Record exists, or the same Idempotency-Key is still in flight",
    "413": "Request body too large",
    "415": "Unsupported request media type (XML is read only by actions with the json-xml policy)",
    "422": "Idempotency-Key reused with another request body",
    "429": "Rate limit exceeded (quota-exceeded problem, Retry-After)",
    "500": "Rolled back (injected X-Fault-After-Write, or a failed action)",
    "503": "Injected fault (X-Fault-Fail-Attempts); retry after Retry-After",
    "504": "Latency SLA exceeded; the transaction was rolled back",
}

_HEADER_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "RateLimit-Policy": ("The quota: policy name, q (calls) and w (window in seconds)", {"type": "string"}),
    "RateLimit": ("What is left of the quota: r (calls) and t (seconds to the reset)", {"type": "string"}),
    "Retry-After": ("Seconds to wait before the next call can pass", {"type": "integer", "minimum": 0}),
    "Deprecation": ("RFC 9745: when v1 became deprecated (@<unix seconds>)",
                    {"type": "string", "pattern": "^@-?[0-9]+$"}),
    "Sunset": ("RFC 8594: when v1 stops being served (an HTTP-date)", {"type": "string"}),
    "Link": ('The same call under v2, rel="successor-version"', {"type": "string"}),
    "Location": ("The new record: the check-status call for its id", {"type": "string"}),
    "X-Transaction-Id": ("The gateway transaction that committed the write", {"type": "string"}),
    "X-Event-Id": ("The CloudEvent the write put in the outbox", {"type": "string"}),
}


def _header_name_schema(name: str) -> tuple[str, dict[str, Any]]:
    if name.startswith("X-RateLimit-"):
        return f"{name} (Kong's rate-limit header)", {"type": "integer", "minimum": 0}
    return _HEADER_SCHEMAS[name]


def _header(name: str, required: bool) -> dict[str, Any]:
    description, schema = _header_name_schema(name)
    return {"description": description, "required": required, "schema": schema}


def _rate_limit_names(op: Operation) -> list[str]:
    """The rate-limit headers the gateway sends for ``op`` (named as ``ratelimit`` names them)."""
    limit = op.contract("rate-limit")
    if limit is None:
        return []
    window = int(limit.params.get("window_s", 60))
    sample = Decision(allowed=True, limit=int(limit.params.get("limit", 1000)), remaining=0,
                      reset_s=1, retry_after_s=0, window_s=window)
    return list(rate_limit_headers(sample, window))


def _headers_sent(op: Operation, version: str | None, status: int) -> list[str]:
    """The headers the gateway sends on every success of ``op`` (as the handler sets them)."""
    names = _rate_limit_names(op)
    if version == "v1":
        names += list(v1_headers(DEFAULT_SERVER, "/", ""))
    if status == 201:
        names.append("Location")
    if op.action in vocab.WRITE_ACTIONS:
        names += ["X-Transaction-Id", "X-Event-Id"]
    elif op.has("kafka-event"):
        names.append("X-Event-Id")
    return names


def _problem_content() -> dict[str, Any]:
    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {"application/problem+json": ref, "application/problem+xml": ref}


def _shape(op: Operation, version: str | None) -> dict[str, Any]:
    """The body one action answers at ``version`` (None: unversioned, which means the latest)."""
    bare = RESULT_SCHEMA[op.action]
    served = versions_of(op)
    effective = version or (served[-1] if served else None)
    if effective is None or effective == "v1":
        return bare
    return {"type": "object", "required": ["data", "meta"],
            "properties": {"data": bare, "meta": {"$ref": "#/components/schemas/Meta"}}}


def _any_of_shapes(ops: list[Operation], version: str | None) -> dict[str, Any]:
    shapes = [_shape(op, version) for op in ops]
    unique = list({repr(s): s for s in shapes}.values())
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _success_responses(ops: list[Operation], version: str | None, xml: bool) -> dict[str, Any]:
    """200 (the record, the status, the page or the config), 201 + Location, 204: as the
    actions of this operation answer, with the headers every one of them sends."""
    by_status: dict[int, list[Operation]] = {}
    for op in ops:
        by_status.setdefault(SUCCESS_STATUS[op.action], []).append(op)
    responses: dict[str, Any] = {}
    for status in sorted(by_status):
        members = by_status[status]
        sent = [_headers_sent(op, version, status) for op in members]
        headers: dict[str, Any] = {}
        for name in dict.fromkeys(n for names in sent for n in names):
            headers[name] = ({"$ref": f"#/components/headers/{name}"} if all(name in names for names in sent)
                             else _header(name, required=False))
        response: dict[str, Any] = {"description": {
            200: "Done: " + ", ".join(op.action for op in members),
            201: "Record added; Location names it",
            204: "Record deleted"}[status]}
        if headers:
            response["headers"] = headers
        if status != 204:
            schema = _any_of_shapes(members, version)
            content = {"application/json": {"schema": schema}}
            if xml:
                content["application/xml"] = {"schema": schema}
            response["content"] = content
        responses[str(status)] = response
    return responses


def _action_rules(op: Operation) -> dict[str, Any]:
    """What one action needs, reads and promises: the value of ``x-apilog-actions[action]``."""
    requires = []
    if op.action in NEEDS_RECORD_ID:
        requires.append("id")
    if op.has("retry") and op.method in NON_IDEMPOTENT_METHODS:
        requires.append("Idempotency-Key")
    return {
        "summary": vocab.term(op.action).en,
        "scope": op.scope,
        "success": SUCCESS_STATUS[op.action],
        "requires": requires,
        "input": ACTION_INPUT[op.action],
        "xml": op.has("json-xml"),
        "contracts": [c.to_dict() for c in op.contracts],
    }


def _shared(name: str, actions: list[str], query: bool) -> dict[str, Any]:
    """The schema of input member ``name`` for an operation holding ``actions``: its constraints
    only when every action reads it under the same rules (otherwise some action stores or ignores
    a value another refuses, and the operation as a whole accepts it)."""
    schemas = [ACTION_INPUT[a].get(name) for a in actions]
    first = schemas[0]
    if first is None or any(schema != first for schema in schemas):
        return {"type": "string"} if query else {}
    if query:  # a query parameter is text whatever the body would allow
        return {**first, "type": "string"}
    return dict(first)


def _operation(path: str, method: str, ops: list[Operation], version: str | None,
               rows: list[dict[str, Any]] | None) -> dict[str, Any]:
    actions = [op.action for op in ops]
    rules = {op.action: _action_rules(op) for op in ops}
    parameters: list[dict[str, Any]] = [
        {"name": "action", "in": "query", "required": True,
         "description": "The catalogued action to perform: " + "; ".join(
             f"`{a}` ({rules[a]['summary'].lower()}, scope {rules[a]['scope']}, {rules[a]['success']}"
             + (f", requires {' and '.join(rules[a]['requires'])}" if rules[a]["requires"] else "") + ")"
             for a in actions) + ". Each action's rules: `x-apilog-actions`.",
         "schema": {"type": "string", "enum": actions}},
    ]
    for name in ("id", "limit", "cursor"):
        readers = [a for a in actions if name in ACTION_INPUT[a]]
        if not readers:
            continue
        needed = [a for a in readers if name in rules[a]["requires"]]
        parameters.append({
            "name": name, "in": "query", "required": False,
            "description": f"{_INPUT_DESCRIPTIONS[name]}, read by {', '.join(readers)}"
                           + (f"; required by {', '.join(needed)} (here or in the body)" if needed else ""),
            # With a body, a member there wins over the query parameter, which then goes
            # unchecked; the record id is checked wherever it comes from, for every action.
            "schema": {**(_shared(name, actions, query=True) if method in QUERY_METHODS
                          else {"type": "string"}),
                       **({"maxLength": MAX_ID_LENGTH, "pattern": _ID_PATTERN}
                          if name == "id" else {})}})
    if method in QUERY_METHODS:
        parameters.append({"name": "fields", "in": "query", "required": False, "style": "form", "explode": True,
                           "description": "Record fields or configuration keys other than action, id, "
                                          "limit and cursor (GET and DELETE carry their fields as query "
                                          "parameters, each once: a repeated parameter is 400)",
                           "schema": {"type": "object", "additionalProperties": {"type": "string"}}})
    if any(op.has("retry") for op in ops):
        keyed = [a for a in actions if "Idempotency-Key" in rules[a]["requires"]]
        parameters.append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": 'IETF Idempotency-Key, a quoted string (Idempotency-Key: "<a new UUID per logical '
                           'request>"): a retry with the same key replays the first answer'
                           + (f"; required by {', '.join(keyed)} (400 without it)" if keyed else ""),
            "schema": {"type": "string", "pattern": _KEY_PATTERN}})
    xml = any(op.has("json-xml") for op in ops)
    responses = _success_responses(ops, version, xml)
    for status in ERRORS:
        responses[status] = {"$ref": f"#/components/responses/Problem{status}"}
    label = f"/{version}{path}" if version else path
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{version or 'latest'}_"
                       + path.strip("/").replace("/", "_").replace("-", "_"),
        "summary": f"{method} {label}: {', '.join(actions)}",
        "description": "One operation per method: `?action=` chooses among the catalogued actions."
                       + (" Served as v1 (deprecated: `Deprecation`, `Sunset` and a successor `Link`)."
                          if version == "v1" else ""),
        "tags": [vocab.domain_of(path)],
        "parameters": parameters,
        "security": [{"oauth2": [scope]} for scope in sorted({op.scope for op in ops})],
        "responses": responses,
        "x-apilog-actions": rules,
    }
    if version == "v1":
        operation["deprecated"] = True
    if method not in QUERY_METHODS:
        members = {name: schema for name in ("id", "limit", "cursor")
                   if (schema := _shared(name, actions, query=False))}
        body: dict[str, Any] = {"type": "object", "additionalProperties": True,
                                "description": "The action's input: a record's fields (add-record), "
                                               "configuration keys (update-config; null removes a key), "
                                               "`id` of one record, `limit` and `cursor` of an export page"}
        if members:
            body["properties"] = members
        # JSON null is read as no input at all, like an empty body.
        content: dict[str, Any] = {"application/json": {"schema": {**body, "type": ["object", "null"]}}}
        if xml:
            # XML bodies map an element per member (console.catalogue.xmlmap); lists need
            # type="array" attributes OpenAPI cannot state, so the XML form is described with
            # scalar members, and an empty <request/> is no object at all.
            content["application/xml"] = {"schema": {
                **body, "minProperties": 1, "additionalProperties": {"type": ["string", "number", "boolean"]},
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]{0,63}$"},
                "xml": {"name": "request"}}}
        operation["requestBody"] = {"required": False, "description": "The action's input", "content": content}
    if rows is not None:
        operation["x-apilog-rows"] = rows
    return operation


def _rows(catalogue: Catalogue, path: str, method: str) -> list[dict[str, Any]]:
    return [{"row": r.row, "page": r.page, "action": r.action, "result": r.result.to_dict(),
             "policy": r.policy.to_dict(), "description": r.description}
            for r in catalogue.rows if r.path == path and r.method == method]


def _components(base_url: str, scopes: list[str]) -> dict[str, Any]:
    headers = {name: _header(name, required=True) for name in _HEADER_SCHEMAS}
    headers.pop("Retry-After")
    for unit in ("Second", "Minute", "Hour", "Day"):
        for kind in ("Limit", "Remaining"):
            headers[f"X-RateLimit-{kind}-{unit}"] = _header(f"X-RateLimit-{kind}-{unit}", required=True)
    retry_after = {"Retry-After": _header("Retry-After", required=False)}
    responses = {}
    for status, description in ERRORS.items():
        response: dict[str, Any] = {"description": description, "content": _problem_content()}
        if status in ("429", "503"):
            response["headers"] = retry_after
        responses[f"Problem{status}"] = response
    return {
        "schemas": SCHEMAS,
        "headers": headers,
        "responses": responses,
        "securitySchemes": {"oauth2": {
            "type": "oauth2",
            "description": "OAuth2 client credentials; RS256 JWTs. Each action needs `<domain>:read` "
                           f"(check-status, export-data) or `<domain>:write` (the others); {ADMIN_SCOPE} "
                           "reads the access log.",
            "flows": {"clientCredentials": {"tokenUrl": f"{base_url}/oauth/token",
                                            "scopes": {scope: f"Scope {scope}" for scope in scopes}}}}},
    }


def openapi_document(catalogue: Catalogue, base_url: str = DEFAULT_SERVER,
                     scopes: list[str] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``catalogue`` served from ``base_url``."""
    base_url = base_url.rstrip("/")
    if scopes is None:
        scopes = all_scopes(dict.fromkeys(op.domain for op in catalogue.operations))
    paths: dict[str, Any] = {}
    for path in catalogue.paths:
        for version in [None, *sorted({v for op in catalogue.operations_for(path) for v in versions_of(op)})]:
            item: dict[str, Any] = {}
            for method in catalogue.methods_for(path):
                ops = [op for op in catalogue.operations_for(path, method)
                       if version is None or version in versions_of(op)]
                if ops:
                    rows = _rows(catalogue, path, method) if version is None else None
                    item[method.lower()] = _operation(path, method, ops, version, rows)
            if item:
                paths[f"/{version}{path}" if version else path] = item
    domains = list(dict.fromkeys(vocab.domain_of(p) for p in catalogue.paths))
    components = _components(base_url, scopes)
    # Only the headers some response refers to (linters flag unused components).
    used = json.dumps(paths)
    components["headers"] = {name: header for name, header in components["headers"].items()
                             if f'"#/components/headers/{name}"' in used}
    return {
        "openapi": "3.1.0",
        "info": {"title": catalogue.title or "API catalogue", "version": "1.0.0",
                 "description": "Every catalogued operation, served with its contracts by the apilog "
                                "reference gateway. Name the action with ?action=<slug>.",
                 "x-apilog-source": catalogue.source.rsplit("/", 1)[-1]},
        "servers": [{"url": base_url, "description": "apilog gateway"}],
        "tags": [{"name": d, "description": f"The {d} domain"} for d in domains],
        "paths": paths,
        "components": components,
    }


def gateway_openapi(catalogue: Catalogue, base_url: str, scopes: list[str]) -> dict[str, Any]:
    """The document served at ``/openapi.json``."""
    return openapi_document(catalogue, base_url, scopes)


def openapi_text(catalogue: Catalogue, server: str | None = None) -> str:
    """The document as ``apilog catalogue export --format openapi`` writes it (JSON, indented)."""
    return json.dumps(openapi_document(catalogue, server or DEFAULT_SERVER), ensure_ascii=False,
                      indent=2) + "\n"
