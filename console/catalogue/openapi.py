"""A catalogue's OpenAPI document (written by :mod:`console.gateway.openapi`), and a catalogue
read back from OpenAPI.

The document apilog writes carries the catalogue's rows and provenance in ``x-apilog-rows``, so
reading it back gives the same rows and operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from console.catalogue import vocabulary as vocab
from console.catalogue.errors import CatalogueError
from console.catalogue.model import Catalogue
from console.gateway.openapi import DEFAULT_SERVER, openapi_document


def to_openapi(catalogue: Catalogue, server: str | None = None) -> dict[str, Any]:
    """The catalogue's OpenAPI 3.1 document: the one the gateway serves at ``/openapi.json``."""
    return openapi_document(catalogue, server or DEFAULT_SERVER)


def rows_from_openapi(document: Any, source: str) -> Iterator[dict[str, Any]]:
    """Row records from a document written by :func:`to_openapi`."""
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise CatalogueError(source, "not an OpenAPI document (no \"paths\")", fix="give an OpenAPI 3.x JSON document")
    found = False
    for path, item in document["paths"].items():
        for method, op_doc in (item or {}).items():
            if method.upper() not in vocab.METHODS or not isinstance(op_doc, dict):
                continue
            # Versioned copies of an operation (/v1/…, /v2/…) carry no rows of their own.
            for row in op_doc.get("x-apilog-rows") or ():
                found = True
                yield {**row, "path": path, "method": method.upper()}
    if not found:
        raise CatalogueError(source, "no operations in the OpenAPI document", fix="add paths with operations")
