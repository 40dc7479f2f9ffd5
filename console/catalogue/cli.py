"""``apilog catalogue``: show, lint and export a catalogue."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from console.catalogue import DEFAULT_CATALOGUE
from console.catalogue.errors import CatalogueError
from console.catalogue.model import Catalogue

_FILE = click.argument("file", required=False, type=click.Path(dir_okay=True, path_type=Path))


def _load(file: Path | None, *, strict: bool = True) -> Catalogue:
    from console.catalogue import load_catalogue

    try:
        return load_catalogue(file or DEFAULT_CATALOGUE, strict=strict)
    except CatalogueError as exc:
        click.echo(f"apilog: {exc}", err=True)
        raise SystemExit(2) from None


@click.group()
def catalogue() -> None:
    """Show, lint and export an API catalogue.

    FILE is a TD448 tab-separated export, CSV, JSON, JSONL, Markdown table or any OpenAPI 3.0/3.1
    document (JSON or YAML); the format is detected. Without FILE, the shipped TD448 catalogue
    is used.
    """


@catalogue.command()
@_FILE
@click.option("--operations", is_flag=True, help="One line per operation (path, method, action) with its contracts.")
@click.option("--lang", type=click.Choice(["en", "vi"]), default="en", show_default=True, help="Language of the labels.")
def show(file: Path | None, operations: bool, lang: str) -> None:
    """Print the catalogue as a readable table."""
    from console.catalogue import vocabulary as vocab

    cat = _load(file)
    if operations:
        lines: list[tuple[str, ...]] = [("PATH", "METHOD", "ACTION", "ROWS", "CONTRACTS")]
        for op in cat.operations:
            lines.append((op.path, op.method, vocab.term(op.action).label(lang),
                          ",".join(map(str, op.rows)), ", ".join(c.label(lang) for c in op.contracts)))
    else:
        lines = [("ROW", "PAGE", "PATH", "METHOD", "ACTION", "RESULT", "POLICY")]
        for row in cat.rows:
            lines.append((str(row.row), str(row.page or ""), row.path, row.method,
                          vocab.term(row.action).label(lang), row.result.label(lang), row.policy.label(lang)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    out = []
    for line in lines:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)) + "  " + line[-1])
    summary = f"{len(cat.rows)} rows, {len(cat.operations)} operations over {len(cat.paths)} paths"
    click.echo("\n".join(out) + "\n" + summary)


@catalogue.command()
@_FILE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def lint(file: Path | None, fmt: str) -> None:
    """Find the catalogue's contradictions. Exit 1 when there are errors."""
    from console.catalogue.lint import lint as run_lint
    from console.catalogue.lint import summary

    cat = _load(file, strict=False)
    findings = run_lint(cat)
    if fmt == "json":
        click.echo(json.dumps([f.to_dict() for f in findings], ensure_ascii=False, indent=2))
    else:
        for f in findings:
            where = ("document" if f.row is None else
                     f"row {f.row}, page {f.page}" if f.page is not None else f"row {f.row}")
            click.echo(f"{f.severity:<7} {f.rule:<22} {where:<16} {f.message}")
        counts = summary(findings)
        click.echo(f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes "
                   f"in {len(cat.rows)} rows", err=True)
    raise SystemExit(1 if any(f.severity == "error" for f in findings) else 0)


@catalogue.command()
@_FILE
@click.option("--format", "fmt", type=click.Choice(["jsonl", "json", "csv", "md", "openapi"]), required=True,
              help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output (written whole, or not at all).")
@click.option("--server", metavar="URL", default=None,
              help="OpenAPI only: the gateway's base URL, for `servers` and the token URL "
                   "[default: http://127.0.0.1:8080, where `apilog gateway` listens].")
def export(file: Path | None, fmt: str, output: Path | None, server: str | None) -> None:
    """Convert the catalogue to another format (the input format is detected).

    `--format openapi` writes the same OpenAPI 3.1 document the gateway serves at /openapi.json.
    """
    from console.catalogue.formats import write_catalogue
    from console.gateway.openapi import openapi_text

    if server is not None and fmt != "openapi":
        raise click.UsageError("--server applies to --format openapi only")
    if server is not None and not server.startswith(("http://", "https://")):
        raise click.UsageError(f"--server {server}: not an http(s) URL; give e.g. https://gateway.example:8443")
    catalogue = _load(file)
    # The OpenAPI document is the gateway's own (one generator for /openapi.json and the export).
    text = openapi_text(catalogue, server) if fmt == "openapi" else write_catalogue(catalogue, fmt)
    if output is None:
        sys.stdout.write(text)
        return
    partial = output.with_name(output.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        click.echo(f"apilog: {output}: cannot write: {exc.strerror} — choose another --output", err=True)
        raise SystemExit(2) from None
    click.echo(f"wrote {output} ({fmt})", err=True)
