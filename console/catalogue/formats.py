"""Read and write catalogues: the TD448 export, CSV, JSON, JSONL, Markdown and OpenAPI (read:
any 3.0 or 3.1 document, JSON or YAML; written: 3.1 JSON).

Every format keeps the row's provenance (row, page) and its contracts with their parameters, so
that exporting and reading back gives the same rows and the same operations.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.catalogue import vocabulary as vocab
from console.catalogue.errors import CatalogueError
from console.catalogue.model import Catalogue, Contract, Row
from console.catalogue.td448 import looks_like_td448, parse_td448

FORMATS = ("td448", "csv", "json", "jsonl", "md", "openapi")
CSV_FIELDS = ("row", "page", "path", "method", "action", "result", "policy", "description")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".md": "md", ".markdown": "md",
               ".yaml": "openapi", ".yml": "openapi"}
#: An OpenAPI document's first keys, JSON or YAML ("openapi" or the Swagger 2 "swagger").
_OPENAPI_HEAD = re.compile(r'^\s*"?(?:openapi|swagger)"?\s*:', re.MULTILINE)


def detect_format(path: Path, text: str) -> str:
    """The format by extension, else by content."""
    by_ext = _EXTENSIONS.get(path.suffix.lower())
    if by_ext:
        return by_ext
    stripped = text.lstrip()
    if _OPENAPI_HEAD.search(stripped[:4000]):
        return "openapi"
    if stripped.startswith("{"):
        head = stripped[:2000]
        if '"paths"' in head:
            return "openapi"
        first_line = stripped.split("\n", 1)[0].strip()
        if first_line.endswith("}") and _is_json(first_line):
            return "jsonl"
        return "json"
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("|"):
        return "md"
    if looks_like_td448(text):
        return "td448"
    if "," in stripped.split("\n", 1)[0] and "path" in stripped.split("\n", 1)[0].lower():
        return "csv"
    return "td448"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def parse_text(text: str, source: str, *, strict: bool = True, fmt: str = "td448") -> Catalogue:
    readers: dict[str, Callable[[str, str, bool], Catalogue]] = {
        "td448": lambda t, s, st: parse_td448(t, s, strict=st),
        "csv": _read_csv,
        "json": _read_json,
        "jsonl": _read_jsonl,
        "md": _read_markdown,
        "openapi": _read_openapi,
    }
    if fmt not in readers:
        raise CatalogueError(source, f"unknown format {fmt!r}", fix="use one of: " + ", ".join(FORMATS))
    return readers[fmt](text, source, strict)


# --- building rows from records (CSV, JSON, JSONL, Markdown, OpenAPI) --------------------------

class _RecordReader:
    """Turns dict records into rows, with the file's line numbers in every error."""

    def __init__(self, source: str, strict: bool) -> None:
        self.source = source
        self.strict = strict
        self.rows: list[Row] = []
        self.catalogue = Catalogue(rows=self.rows, source=source)

    def add(self, record: dict[str, Any], line: int) -> None:
        from console.catalogue.model import ImportNote

        index = len(self.rows) + 1

        def fail(message: str, fix: str) -> None:
            raise CatalogueError(self.source, f"record {index}: {message}", line=line, fix=fix)

        def field(name: str) -> Any:
            value = record.get(name)
            if value in (None, ""):
                fail(f"missing {name!r}", f"every record needs {', '.join(CSV_FIELDS[2:7])}")
            return value

        path = str(field("path")).strip()
        if not path.startswith("/"):
            fail(f"path {path!r} does not start with '/'", "write the API path as /segment/segment")
        method_text = str(field("method"))
        method = vocab.match_method(method_text)
        if method is None:
            fail(f"unknown method {method_text!r}", "use one of " + ", ".join(vocab.METHODS))
        contracts: list[Contract] = []
        for kind in ("action", "result", "policy"):
            value = field(kind)
            if isinstance(value, dict):
                contract = Contract.from_dict(value)
                try:
                    vocab.term(contract.slug)
                except KeyError:
                    fail(f"unknown {kind} {contract.slug!r}", "use a slug of: " + ", ".join(vocab.SLUGS[kind]))
                contracts.append(contract)
                continue
            found = vocab.match(kind, str(value))
            page = _int_or_none(record.get("page"))
            if found.how == "unknown":
                if self.strict:
                    fail(f"unknown {kind} {value!r}; closest known: {found.closest!r}",
                         f"use one of the {kind} slugs ({', '.join(vocab.SLUGS[kind])}) or "
                         "their labels (docs/contracts.md, Vocabulary)")
                self.catalogue.notes.append(ImportNote("error", f"unknown-{kind}", index, page, line,
                                                       f"unknown {kind} {value!r}; closest known: {found.closest!r}"))
                found = vocab.match(kind, found.closest or "")
            elif found.how == "corrected":
                self.catalogue.notes.append(ImportNote("warning", "corrected-typo", index, page, line,
                                                       f"{kind} {value!r} read as {found.closest!r}"))
            contracts.append(Contract(found.slug, found.params))
        action, result, policy = contracts
        row_number = _int_or_none(record.get("row")) or index
        self.rows.append(Row(row=row_number, page=_int_or_none(record.get("page")), path=path,
                             method=method or "", action=action.slug, result=result, policy=policy,
                             description=str(record.get("description") or ""), line=line))

    def finish(self) -> Catalogue:
        if not self.rows:
            raise CatalogueError(self.source, "no catalogue rows found", fix="add at least one row")
        return self.catalogue


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _read_csv(text: str, source: str, strict: bool) -> Catalogue:
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in ("path", "method", "action", "result", "policy") if f not in (reader.fieldnames or [])]
    if missing:
        raise CatalogueError(source, f"the CSV header lacks {', '.join(missing)}", line=1,
                             fix="header: " + ",".join(CSV_FIELDS))
    records = _RecordReader(source, strict)
    for record in reader:
        records.add(record, reader.line_num)
    return records.finish()


def _read_json(text: str, source: str, strict: bool) -> Catalogue:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(source, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno,
                             fix="fix the JSON syntax") from None
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise CatalogueError(source, "expected a list of rows or an object with \"rows\"", line=1,
                             fix='write {"rows": [{"path": …, "method": …, …}]}')
    records = _RecordReader(source, strict)
    for record in rows:
        if not isinstance(record, dict):
            raise CatalogueError(source, "a row is not an object", fix="each row is a JSON object")
        records.add(record, 1)
    catalogue = records.finish()
    if isinstance(data, dict):
        catalogue.title = str(data.get("title") or "")
    return catalogue


def _read_jsonl(text: str, source: str, strict: bool) -> Catalogue:
    records = _RecordReader(source, strict)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CatalogueError(source, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number,
                                 fix="one JSON object per line") from None
        if not isinstance(record, dict):
            raise CatalogueError(source, "the line is not a JSON object", line=number, fix="one JSON object per line")
        records.add(record, number)
    return records.finish()


def _read_markdown(text: str, source: str, strict: bool) -> Catalogue:
    records = _RecordReader(source, strict)
    header: list[str] | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip().startswith("|"):
            continue
        cells = _md_cells(line)
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        if len(cells) != len(header):
            raise CatalogueError(source, f"{len(cells)} cells where the header has {len(header)}", line=number,
                                 fix="escape '|' inside cells as '\\|'")
        records.add(dict(zip(header, cells, strict=True)), number)
    return records.finish()


def _md_cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    cells, current, escaped = [], [], False
    for ch in body:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    cells.append("".join(current).strip())
    return cells


def _read_openapi(text: str, source: str, strict: bool) -> Catalogue:
    # Deferred: console.catalogue.openapi (PyYAML and the gateway's OpenAPI generator) takes
    # 240 ms to import (python -X importtime), which every start on a TD448 file would pay.
    from console.catalogue.openapi import (
        import_openapi,
        parse_document,
        rows_from_openapi,
        written_by_apilog,
    )

    document = parse_document(text, source)
    records = _RecordReader(source, strict)
    if written_by_apilog(document):
        for record in rows_from_openapi(document, source):
            records.add(record, 1)
        catalogue = records.finish()
        catalogue.rows.sort(key=lambda r: r.row)
    else:
        imported = import_openapi(document, text, source, strict=strict)
        for record, line in imported.records:
            records.add(record, line or 1)
        catalogue = records.finish()
        catalogue.notes.extend(imported.notes)
    catalogue.title = str((document.get("info") or {}).get("title", ""))
    return catalogue


# --- writers ----------------------------------------------------------------------------------

def write_catalogue(catalogue: Catalogue, fmt: str) -> str:
    """The catalogue as text in ``fmt`` (csv, json, jsonl, md)."""
    if fmt == "jsonl":
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in catalogue.rows)
    if fmt == "json":
        document = {"title": catalogue.title, "source": Path(catalogue.source).name,
                    "rows": [r.to_dict() for r in catalogue.rows]}
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in catalogue.rows:
            writer.writerow(_printed(row))
        return out.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(CSV_FIELDS) + " |", "|" + "---|" * len(CSV_FIELDS)]
        for row in catalogue.rows:
            values = _printed(row)
            lines.append("| " + " | ".join(str(values[f]).replace("|", "\\|") for f in CSV_FIELDS) + " |")
        return "\n".join(lines) + "\n"
    raise ValueError(f"cannot write format {fmt!r}; use one of csv, json, jsonl, md (OpenAPI is "
                     "the gateway's document: console.gateway.openapi.openapi_text)")


def _printed(row: Row) -> dict[str, Any]:
    """A row with its words as printed in Vietnamese (parameters put back into the wording)."""
    return {
        "row": row.row,
        "page": "" if row.page is None else row.page,
        "path": row.path,
        "method": row.method,
        "action": vocab.term(row.action).vi,
        "result": row.result.label("vi"),
        "policy": row.policy.label("vi"),
        "description": row.description,
    }
