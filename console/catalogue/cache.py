"""Parsed catalogues kept between runs: ``apilog`` does not parse an unchanged file again.

Parsing the shipped TD448 document costs ~17 ms of the console's ~370 ms to its first frame
(``bench/bench_tui.py``); reading it back from here ~6 ms, before the parsers are imported. An
entry is keyed by all the parse depends on: the file's bytes, its path, the format asked for,
strict or not, the parser's modules as installed (``console/catalogue/*.py``: their sizes and
modification times) and the Python version. A change to any of them is another key: an entry
is never read for a file, or a parser, other than the one it was made from. An entry is written
only when reading it back gives the same rows and notes, ``repr`` for ``repr``; a missing,
unreadable or damaged cache means parsing the file, as without one, never an error.

Where: ``$XDG_CACHE_HOME/apilog/catalogues`` (``~/.cache`` when unset), a 0700 directory of
0600 files, the newest :data:`KEEP` entries. Deleting it loses nothing. See docs/config.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from console.catalogue.model import Catalogue, Contract, ImportNote, Row

#: Entries kept; older ones go when a new one is written.
KEEP = 16
_FORMAT = 1


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "apilog" / "catalogues"


def key(raw: bytes, source: str, strict: bool, fmt: str | None) -> str:
    """The entry for ``raw`` read from ``source``; ``fmt`` None: the format is detected (by
    the file's extension first, so the extension is part of the key)."""
    import hashlib  # here: a start-up that finds nothing to read does not pay for it

    if fmt is None:
        fmt = f"detected{Path(source).suffix.lower()}"
    digest = hashlib.sha256(_parser_fingerprint())
    digest.update(f"\0{_FORMAT}\0{source}\0{strict}\0{fmt}\0".encode("utf-8", "surrogatepass"))
    digest.update(raw)
    return digest.hexdigest()


def load(entry_key: str, source: str) -> Catalogue | None:
    """The catalogue stored under ``entry_key``, or None (not stored, or not readable)."""
    entry = cache_dir() / f"{entry_key}.json"
    try:
        catalogue = _decode(json.loads(entry.read_bytes()), source)
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # in use: the last to be pruned
    return catalogue


def store(entry_key: str, catalogue: Catalogue) -> None:
    """Keep ``catalogue`` under ``entry_key`` when it reads back the same; never raises."""
    data = _encode(catalogue)
    again = _decode(json.loads(json.dumps(data)), catalogue.source)
    if repr((again.rows, again.notes, again.title)) != repr(
            (catalogue.rows, catalogue.notes, catalogue.title)):
        return  # something the JSON form does not hold (a tuple among the parameters…)
    from console.private_files import FILE_MODE, private_dir

    with contextlib.suppress(OSError):
        folder = private_dir(cache_dir(), ours=True)
        final = folder / f"{entry_key}.json"
        partial = folder / f".{entry_key}.{os.getpid()}.tmp"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, separators=(",", ":"))
        os.replace(partial, final)
        _prune(folder)


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


@functools.cache
def _parser_fingerprint() -> bytes:
    """The parser's modules as installed (name, size, modification time) and the Python
    reading them: an upgraded or edited apilog is another key. Their metadata, not their
    bytes: a start-up reads none of them."""
    stats = [(m.name, m.stat().st_size, m.stat().st_mtime_ns)
             for m in sorted(Path(__file__).parent.glob("*.py"))]
    return repr((sys.version, stats)).encode()


def _encode(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "title": catalogue.title,
        "rows": [[r.row, r.page, r.path, r.method, r.action, r.result.slug, r.result.params,
                  r.policy.slug, r.policy.params, r.description, r.line]
                 for r in catalogue.rows],
        "notes": [[n.severity, n.rule, n.row, n.page, n.line, n.message]
                  for n in catalogue.notes],
    }


def _decode(data: dict[str, Any], source: str) -> Catalogue:
    rows = [Row(row, page, path, method, action, Contract(r_slug, r_params),
                Contract(p_slug, p_params), description, line)
            for row, page, path, method, action, r_slug, r_params, p_slug, p_params,
            description, line in data["rows"]]
    notes = [ImportNote(*note) for note in data["notes"]]
    return Catalogue(rows=rows, source=source, title=data["title"], notes=notes)
