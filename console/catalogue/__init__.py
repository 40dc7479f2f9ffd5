"""The API catalogue: import (TD448 export, CSV, JSON, JSONL, Markdown, OpenAPI), model, lint.

>>> cat = load_catalogue()            # the shipped TD448 document
>>> len(cat.rows), len(cat.operations)
(320, 152)
"""

from __future__ import annotations

from pathlib import Path

from console import DATA_DIR
from console.catalogue.errors import CatalogueError
from console.catalogue.model import Catalogue, Contract, ImportNote, Operation, Row

#: The TD448 catalogue shipped inside the package.
DEFAULT_CATALOGUE = DATA_DIR / "td448.txt"

__all__ = [
    "DEFAULT_CATALOGUE",
    "Catalogue",
    "CatalogueError",
    "Contract",
    "ImportNote",
    "Operation",
    "Row",
    "load_catalogue",
]


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read a catalogue in any supported format (detected); the shipped one when ``path`` is None.

    Raises :class:`CatalogueError` with the file, the line and the fix.
    """
    from console.catalogue import cache

    target = Path(path) if path is not None else DEFAULT_CATALOGUE
    # Before the parsers are imported: a file read before costs ~6 ms instead of ~17 ms.
    found = cache.cached(target)
    if found is not None:
        return found
    from console.catalogue.formats import read_catalogue

    return read_catalogue(target)
