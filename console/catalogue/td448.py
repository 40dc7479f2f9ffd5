"""Import the TD448 document ("QUẢN LÝ API & LOG") as exported from its PDF to tab-separated text.

What such an export does, and what this importer undoes:

- page furniture on every page ("VIETTEL AI RACE … TD448", "QUẢN LÝ API & LOG … Lần ban hành: 1",
  blank lines, the repeated column header row) is skipped; each "VIETTEL AI RACE" line starts a page;
- a row cut by a page break continues, on the next page, in a line whose first two cells are empty;
  its cells are joined to the row's, and a word the export printed on both sides of the cut
  ("Retry tối đa 3 lần" + "đa 3 lần", "sử dụng" + "dùng") is kept once;
- typos are snapped to the vocabulary with a warning naming row and page;
- NFC or NFD, LF, CRLF or CR, and a byte-order mark are all read the same.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from console.catalogue import vocabulary as vocab
from console.catalogue.errors import CatalogueError
from console.catalogue.model import Catalogue, Contract, ImportNote, Row

COLUMNS = ("API", "Phương thức", "Hành động", "Mô tả chi tiết", "Kết quả", "Ghi chú")
DESCRIPTION = "API {path} sử dụng phương thức {method} để {action}, có xác thực OAuth2 và log giao dịch chi tiết."
_FURNITURE_MARKS = ("viettel ai race", "lần ban hành", "quản lý api & log")


def decode(raw: bytes, source: str) -> str:
    """Bytes to NFC text with ``\\n`` line ends, or a CatalogueError for a binary file."""
    if not raw.strip():
        raise CatalogueError(source, "the file is empty", fix="export the catalogue table again")
    if b"\x00" in raw[:4096]:
        raise CatalogueError(source, "this is a binary file, not a catalogue",
                             fix="give the tab-separated text export, CSV, JSON, JSONL, Markdown or OpenAPI")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogueError(source, f"not UTF-8 text (byte {exc.start})", line=line,
                             fix="save the export as UTF-8") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def looks_like_td448(text: str) -> bool:
    head = vocab.fold(text[:4000])
    return "\t" in text[:4000] and ("phương thức" in head or "viettel ai race" in head)


@dataclass
class _Pending:
    line: int
    page: int
    cells: list[list[str]] = field(default_factory=lambda: [[] for _ in COLUMNS])


def _is_furniture(cells: list[str]) -> bool:
    if cells[0].startswith("/"):
        return False
    folded = vocab.fold(" ".join(cells))
    if not folded:
        return True
    if any(mark in folded for mark in _FURNITURE_MARKS):
        return True
    first = [vocab.fold(c) for c in cells if c.strip()]
    return len(first) >= 2 and first[0] == "api" and first[1] == "phương thức"


def parse_td448(text: str, source: str = "<text>", *, strict: bool = True) -> Catalogue:
    """Rows in document order with page and line provenance.

    ``strict``: refuse the file at the first value that is not in the vocabulary (for running a
    gateway on it); otherwise keep the closest known value and report an error note (for lint).
    """
    pending: list[_Pending] = []
    page = 1
    seen_furniture_page = False
    for number, line in enumerate(text.split("\n"), start=1):
        cells = line.split("\t")
        if "VIETTEL" in line.upper() and "viettel ai race" in vocab.fold(line):
            if seen_furniture_page:
                page += 1
            seen_furniture_page = True
            continue
        if _is_furniture(cells):
            continue
        if len(cells) > len(COLUMNS) and any(c.strip() for c in cells[len(COLUMNS):]):
            raise CatalogueError(source, f"{len(cells)} cells where the table has {len(COLUMNS)}", line=number,
                                 fix="remove the extra tab-separated cells (" + ", ".join(COLUMNS) + ")")
        cells = (cells + [""] * len(COLUMNS))[: len(COLUMNS)]
        if cells[0].strip():
            if len(line.split("\t")) < len(COLUMNS):
                raise CatalogueError(
                    source, f"row has {len(line.split(chr(9)))} cells, expected {len(COLUMNS)}", line=number,
                    fix="separate " + ", ".join(COLUMNS) + " with tabs")
            pending.append(_Pending(number, page))
        elif not pending:
            raise CatalogueError(source, "a continuation line before the first row", line=number,
                                 fix="start the table with a row whose first cell is the API path")
        elif cells[1].strip():
            raise CatalogueError(source, "a row with a method but no API path", line=number,
                                 fix="put the API path in the first cell")
        for column, cell in enumerate(cells):
            if cell.strip():
                pending[-1].cells[column].append(cell.strip())
    if not pending:
        raise CatalogueError(source, "no catalogue rows found",
                             fix="the table needs rows: " + "\t".join(COLUMNS))
    notes: list[ImportNote] = []
    rows = [_build_row(i, p, source, strict, notes) for i, p in enumerate(pending, start=1)]
    return Catalogue(rows=rows, source=source, title="QUẢN LÝ API & LOG (TD448)", notes=notes)


def _build_row(index: int, p: _Pending, source: str, strict: bool, notes: list[ImportNote]) -> Row:
    def note(severity: str, rule: str, message: str) -> None:
        if strict and severity == "error":
            raise CatalogueError(source, f"row {index} (page {p.page}): {message}", line=p.line,
                                 fix="correct the value, or run `apilog catalogue lint` for every finding")
        notes.append(ImportNote(severity, rule, index, p.page, p.line, message))

    path = "".join(p.cells[0])
    method_text = " ".join(p.cells[1])
    method = vocab.match_method(method_text)
    if method is None:
        closest = vocab.closest_method(method_text)
        note("error", "unknown-method",
             f"unknown HTTP method {method_text!r}; closest: {closest} (known: {', '.join(vocab.METHODS)})")
        method = closest
    action = _resolve("action", p.cells[2], index, p, note)
    result = _resolve("result", p.cells[4], index, p, note)
    policy = _resolve("policy", p.cells[5], index, p, note)
    template = DESCRIPTION.format(path=path, method=method, action=vocab.term(action.slug).vi)
    folded_template = vocab.fold(template)
    description = _join(p.cells[3], lambda text: text == template or vocab.fold(text) == folded_template)
    if description != template and vocab.fold(description) != folded_template and (
            vocab.strip_accents(description) == vocab.strip_accents(template)):
        note("warning", "corrected-typo", f"Mô tả chi tiết {description!r} read as {template!r}")
        description = template
    return Row(row=index, page=p.page, path=path, method=method, action=action.slug,
               result=result, policy=policy, description=description, line=p.line)


def _resolve(kind: vocab.Kind, fragments: list[str], index: int, p: _Pending,
             note: Callable[[str, str, str], None]) -> Contract:
    column = {"action": "Hành động", "result": "Kết quả", "policy": "Ghi chú"}[kind]
    if not fragments:
        note("error", f"missing-{kind}", f"the {column} cell is empty")
        fallback = vocab.terms_of(kind)[0]
        return Contract(fallback.slug, dict(fallback.defaults))
    text = _join(fragments, lambda t: vocab.match(kind, t).how == "exact")
    found = vocab.match(kind, text)
    if found.how == "corrected":
        note("warning", "corrected-typo", f"{column} {text!r} read as {found.closest!r}")
    elif found.how == "unknown":
        note("error", f"unknown-{kind}", f"unknown {column} {text!r}; closest known: {found.closest!r}")
        closest = vocab.match(kind, found.closest or "")
        return Contract(closest.slug, closest.params)
    return Contract(found.slug, found.params)


def _join(fragments: list[str], accept: Callable[[str], bool]) -> str:
    """Join a cell's fragments across page breaks, dropping a word repeated at the cut if that
    is what makes the text read as the vocabulary (or the description template) expects."""
    plain = " ".join(fragments)
    if len(fragments) < 2 or accept(plain):
        return plain
    joined = fragments[0]
    for fragment in fragments[1:]:
        joined = _merge_overlap(joined, fragment)
    return joined if accept(joined) else plain


def _merge_overlap(left: str, right: str) -> str:
    """``left + right`` with the longest run of words ending ``left`` and starting ``right``
    (compared without diacritics: the export printed "dụng" then "dùng") kept once."""
    lw, rw = left.split(), right.split()
    for k in range(min(len(lw), len(rw)), 0, -1):
        if [vocab.strip_accents(w) for w in lw[-k:]] == [vocab.strip_accents(w) for w in rw[:k]]:
            return " ".join(lw + rw[k:])
    return f"{left} {right}"
