"""The gateway's own OpenAPI 3.1 document, generated from the catalogue it serves.

One path item per catalogued path (and per ``/vN`` prefix for operations with the versioning
note); one operation per method, whose required ``action`` query parameter enumerates the
catalogued actions. It describes what the gateway really answers — bodies, problem details,
OAuth2 client credentials — so that schemathesis can hold the gateway to it.
"""

from __future__ import annotations

from typing import Any

from console.catalogue import Catalogue, Operation
from console.catalogue.vocabulary import QUERY_METHODS
from console.gateway.routing import versions_of

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
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
}

RESULT_SCHEMA = {"check-status": {"anyOf": [{"$ref": "#/components/schemas/Record"},
                                            {"$ref": "#/components/schemas/DomainStatus"}]},
                 "export-data": {"$ref": "#/components/schemas/ExportPage"},
                 "update-config": {"$ref": "#/components/schemas/Config"},
                 "add-record": {"$ref": "#/components/schemas/Record"}}

ERRORS = {
    "400": "Bad request: missing action or id, malformed body, bad Idempotency-Key",
    "401": "No token, or an invalid or expired one (RFC 6750 challenge)",
    "403": "The token lacks the operation's scope",
    "404": "Action not catalogued for this path and method, or no such record",
    "406": "No acceptable response format",
    "409": "Record exists, or the same Idempotency-Key is still in flight",
    "413": "Request body too large",
    "415": "Unsupported request media type",
    "422": "Idempotency-Key reused with another request body",
    "429": "Rate limit exceeded (quota-exceeded problem, Retry-After)",
    "500": "Rolled back (injected X-Fault-After-Write, or a failed action)",
    "503": "Injected fault (X-Fault-Fail-Attempts); retry after Retry-After",
    "504": "Latency SLA exceeded; the transaction was rolled back",
}


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
            "properties": {"data": bare, "meta": {"type": "object"}}}


def _success_schema(ops: list[Operation], version: str | None) -> dict[str, Any]:
    shapes = [_shape(op, version) for op in ops if op.action in RESULT_SCHEMA]
    unique = [dict(s) for s in {repr(s): s for s in shapes}.values()]
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _operation(path: str, method: str, ops: list[Operation], version: str | None) -> dict[str, Any]:
    actions = [op.action for op in ops]
    scopes = sorted({op.scope for op in ops})
    parameters: list[dict[str, Any]] = [
        {"name": "action", "in": "query", "required": True,
         "description": "The catalogued action to perform", "schema": {"type": "string", "enum": actions}},
        {"name": "id", "in": "query", "required": False, "description": "Record id",
         "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9_.-]+$"}},
    ]
    if "export-data" in actions:
        parameters += [
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            {"name": "cursor", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
        ]
    if method in QUERY_METHODS:
        parameters.append({"name": "fields", "in": "query", "required": False, "style": "form", "explode": True,
                           "description": "Record fields or configuration keys (GET and DELETE carry their "
                                          "fields as query parameters)",
                           "schema": {"type": "object", "additionalProperties": {"type": "string"}}})
    if any(op.has("retry") for op in ops):
        keyed = [op.action for op in ops if op.has("retry")]
        parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "IETF Idempotency-Key (a quoted string); required on POST and "
                                          f"PATCH for the retryable actions: {', '.join(keyed)}",
                           "schema": {"type": "string", "pattern": '^"[A-Za-z0-9-]{8,64}"$'}})
    xml = any(op.has("json-xml") for op in ops)
    success = _success_schema(ops, version)
    content = {"application/json": {"schema": success}}
    if xml:
        content["application/xml"] = {"schema": success}
    responses: dict[str, Any] = {}
    if any(op.action != "delete-info" and op.action != "add-record" for op in ops):
        responses["200"] = {"description": "Done", "content": content}
    if "add-record" in actions:
        responses["201"] = {"description": "Record added; Location names it", "content": content}
    if "delete-info" in actions:
        responses["204"] = {"description": "Record deleted"}
    for status, description in ERRORS.items():
        responses[status] = {"description": description, "content": _problem_content()}
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{(version or 'latest')}_" + path.strip("/").replace("/", "_").replace("-", "_"),
        "summary": f"{method} {path}: {', '.join(actions)}",
        "parameters": parameters,
        "security": [{"oauth2": scopes}],
        "responses": responses,
        "x-apilog-operations": [{"action": op.action, "contracts": [c.to_dict() for c in op.contracts],
                                 "rows": list(op.rows)} for op in ops],
    }
    if version == "v1":
        operation["deprecated"] = True
    if method not in QUERY_METHODS:
        body_schema = {
            "type": "object",
            "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 200,
                                  "pattern": "^[A-Za-z0-9_.-]+$"}},
            "additionalProperties": True,
        }
        if "export-data" in actions:
            body_schema["properties"]["limit"] = {"type": "integer", "minimum": 1, "maximum": 1000}
            body_schema["properties"]["cursor"] = {"type": "string", "pattern": "^[0-9]{1,18}$"}
        operation["requestBody"] = {"required": False,
                                    "content": {"application/json": {"schema": body_schema}}}
    return operation


def gateway_openapi(catalogue: Catalogue, base_url: str, scopes: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document served at ``/openapi.json``."""
    paths: dict[str, Any] = {}
    for path in catalogue.paths:
        for version in [None, *sorted({v for op in catalogue.operations_for(path) for v in versions_of(op)})]:
            item: dict[str, Any] = {}
            for method in catalogue.methods_for(path):
                ops = [op for op in catalogue.operations_for(path, method)
                       if version is None or version in versions_of(op)]
                if ops:
                    item[method.lower()] = _operation(path, method, ops, version)
            if item:
                paths[f"/{version}{path}" if version else path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": catalogue.title or "apilog reference gateway", "version": "1.0.0",
                 "description": "Every catalogued operation, served with its contracts. "
                                "Name the action with ?action=<slug>."},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                "tokenUrl": f"{base_url}/oauth/token",
                "scopes": {scope: f"Scope {scope}" for scope in scopes}}}}},
        },
    }
