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


def load_catalogue(path: str | Path | None = None, *, strict: bool = True,
                   fmt: str | None = None) -> Catalogue:
    """Read a catalogue in its detected (or the given) format; the shipped one when ``path`` is
    None. A file read before comes back from :mod:`console.catalogue.cache` (~6 ms for the
    shipped one, the parsers not even imported, against ~17 ms to parse it).

    Raises :class:`CatalogueError` with the file, the line and the fix.
    """
    from console.catalogue import cache

    target = Path(path) if path is not None else DEFAULT_CATALOGUE
    source = str(target)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise CatalogueError(source, "no such file", fix="check the path, or omit it for the shipped catalogue") from None
    except IsADirectoryError:
        raise CatalogueError(source, "is a directory, not a catalogue file", fix="name a file") from None
    except OSError as exc:
        raise CatalogueError(source, f"cannot read: {exc.strerror}") from None
    entry = cache.key(raw, source, strict, fmt)
    found = cache.load(entry, source)
    if found is not None:
        return found
    from console.catalogue.formats import detect_format, parse_text
    from console.catalogue.td448 import decode

    text = decode(raw, source)
    catalogue = parse_text(text, source, strict=strict, fmt=fmt or detect_format(target, text))
    cache.store(entry, catalogue)
    return catalogue
