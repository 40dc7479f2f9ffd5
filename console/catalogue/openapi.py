"""OpenAPI 3.1 from a catalogue, and a catalogue back from that OpenAPI.

One path item per catalogue path; one OpenAPI operation per method, whose required ``action``
query parameter enumerates the catalogued actions. The catalogue's contracts and provenance ride
in ``x-apilog-*`` extensions, so reading the document back gives the same rows and operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from console.catalogue import vocabulary as vocab
from console.catalogue.errors import CatalogueError
from console.catalogue.model import Catalogue

PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}


def _operation_id(path: str, method: str) -> str:
    return method.lower() + "_" + "_".join(s.replace("-", "_") for s in path.strip("/").split("/"))


def to_openapi(catalogue: Catalogue) -> dict[str, Any]:
    """An OpenAPI 3.1 document for the catalogue."""
    paths: dict[str, Any] = {}
    for path in catalogue.paths:
        item: dict[str, Any] = {}
        for method in catalogue.methods_for(path):
            operations = catalogue.operations_for(path, method)
            actions = [op.action for op in operations]
            rows = [r for r in catalogue.rows if r.path == path and r.method == method]
            op_doc: dict[str, Any] = {
                "operationId": _operation_id(path, method),
                "summary": "; ".join(vocab.term(a).en for a in actions),
                "tags": [vocab.domain_of(path)],
                "parameters": [
                    {"name": "action", "in": "query", "required": True,
                     "schema": {"type": "string", "enum": actions},
                     "description": "The catalogued action to perform."},
                    {"name": "id", "in": "query", "required": False, "schema": {"type": "string"},
                     "description": "Record id."},
                ],
                "security": [{"oauth2": sorted({op.scope for op in operations})}],
                "responses": {
                    "default": {"description": "Problem details (RFC 9457).",
                                "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}},
                },
                "x-apilog-operations": [
                    {"action": op.action, "scope": op.scope,
                     "contracts": [c.to_dict() for c in op.contracts],
                     "rows": list(op.rows), "pages": list(op.pages)}
                    for op in operations
                ],
                "x-apilog-rows": [
                    {"row": r.row, "page": r.page, "action": r.action, "result": r.result.to_dict(),
                     "policy": r.policy.to_dict(), "description": r.description}
                    for r in rows
                ],
            }
            if method in ("POST", "PUT", "PATCH"):
                op_doc["requestBody"] = {"required": False, "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "application/xml": {"schema": {"type": "object"}},
                }}
            item[method.lower()] = op_doc
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": catalogue.title or "API catalogue", "version": "1",
                 "x-apilog-source": catalogue.source.rsplit("/", 1)[-1]},
        "paths": paths,
        "components": {
            "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {s: s for s in sorted({op.scope for op in catalogue.operations} | {"gateway:admin"})},
            }}}},
            "schemas": {"Problem": PROBLEM_SCHEMA},
        },
    }


def rows_from_openapi(document: Any, source: str) -> Iterator[dict[str, Any]]:
    """Row records from a document written by :func:`to_openapi`."""
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise CatalogueError(source, "not an OpenAPI document (no \"paths\")", fix="give an OpenAPI 3.x JSON document")
    found = False
    for path, item in document["paths"].items():
        for method, op_doc in (item or {}).items():
            if method.upper() not in vocab.METHODS or not isinstance(op_doc, dict):
                continue
            rows = op_doc.get("x-apilog-rows")
            if rows is None:
                raise CatalogueError(source, f"{method.upper()} {path} has no x-apilog-rows",
                                     fix="only OpenAPI written by `apilog catalogue export --format openapi` carries the catalogue's rows")
            for row in rows:
                found = True
                yield {**row, "path": path, "method": method.upper()}
    if not found:
        raise CatalogueError(source, "no operations in the OpenAPI document", fix="add paths with operations")
