"""Reports of a conformance run: a terminal table, JSON lines and JUnit XML.

The three read the same list of :class:`Verdict`; none of them decides anything. The table is
operations × contracts with one mark per cell, followed by the failures with their evidence,
because the failures are what an operator acts on.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import IO

from console.conformance.verdict import (
    CATALOGUE_DEFECT,
    CONTRACT_SLUGS,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    SKIPPED,
    VERDICTS,
    Verdict,
    summarise,
)

#: One character per outcome in the table (ASCII, so any terminal and CI log shows it).
MARKS: dict[str, str] = {
    PASSED: "ok",
    FAILED: "FAIL",
    NOT_APPLICABLE: "n/a",
    CATALOGUE_DEFECT: "DEF",
    SKIPPED: "skip",
}

#: Short column headings, so twelve contracts fit beside the operation label.
HEADINGS: dict[str, str] = {
    "oauth2": "oauth",
    "transaction-log": "txlog",
    "rollback-on-error": "rollbk",
    "kafka-event": "kafka",
    "latency-sla": "sla",
    "full-log": "fullog",
    "retry": "retry",
    "rate-limit": "rate",
    "api-gateway": "gatew",
    "versioning": "vers",
    "json-xml": "jsnxml",
    "restful": "rest",
}


def operations_in(verdicts: Iterable[Verdict]) -> list[tuple[str, str, str]]:
    """(path, method, action) in first-seen order."""
    return list(dict.fromkeys((v.path, v.method, v.action) for v in verdicts))


def contracts_in(verdicts: Iterable[Verdict]) -> list[str]:
    """Contract slugs present, in the canonical column order (unknown slugs last)."""
    present = {v.contract for v in verdicts}
    ordered = [slug for slug in CONTRACT_SLUGS if slug in present]
    return ordered + sorted(present - set(CONTRACT_SLUGS))


def render_table(verdicts: list[Verdict], *, failures: bool = True) -> str:
    """The summary table (operations × contracts), the counts, why checks were skipped (once per
    reason), then each failure with its evidence."""
    operations = operations_in(verdicts)
    columns = contracts_in(verdicts)
    cells = {v.key: MARKS.get(v.verdict, v.verdict) for v in verdicts}
    labels = [f"{method} {path}?action={action}" for path, method, action in operations]
    label_width = max([len("operation"), *map(len, labels)])
    widths = [max(len(HEADINGS.get(c, c)), 4) for c in columns]
    lines = ["  ".join(["operation".ljust(label_width),
                        *(HEADINGS.get(c, c).ljust(w) for c, w in zip(columns, widths, strict=True))])]
    for label, (path, method, action) in zip(labels, operations, strict=True):
        marks = [cells.get((path, method, action, c), ".").ljust(w)
                 for c, w in zip(columns, widths, strict=True)]
        lines.append("  ".join([label.ljust(label_width), *marks]).rstrip())
    counts = summarise(verdicts)
    lines.append("")
    lines.append(f"{len(operations)} operations, {len(verdicts)} verdicts: "
                 + ", ".join(f"{counts[word]} {word}" for word in VERDICTS))
    lines.append("marks: " + ", ".join(f"{mark} {word}" for word, mark in MARKS.items())
                 + ", . not catalogued")
    skipped: dict[str, int] = {}
    for verdict in verdicts:
        if verdict.verdict == SKIPPED:
            why = f"{verdict.contract}: {verdict.reason}"
            skipped[why] = skipped.get(why, 0) + 1
    if skipped:
        lines.append("")
        lines.append("skipped:")
        lines.extend(f"  {count} × {reason}" for reason, count in skipped.items())
    if failures:
        failed = [v for v in verdicts if v.verdict == FAILED]
        if failed:
            lines.append("")
            lines.append("failures:")
            lines.extend(describe(v) for v in failed)
    return "\n".join(lines)


def describe(verdict: Verdict) -> str:
    """One line for a verdict: operation, contract, reason and where to look."""
    where = []
    if verdict.request_ids:
        where.append("request " + ", ".join(verdict.request_ids[:3]))
    if verdict.transaction_ids:
        where.append("transaction " + ", ".join(verdict.transaction_ids[:3]))
    if "status" in verdict.evidence:
        where.append(f"status {verdict.evidence['status']}")
    suffix = f" [{'; '.join(where)}]" if where else ""
    return f"  {verdict.operation_label} {verdict.contract}: {verdict.reason}{suffix}"


def write_json_lines(verdicts: Iterable[Verdict], stream: IO[str]) -> None:
    """One JSON object per verdict per line (``apilog check --json``)."""
    for verdict in verdicts:
        stream.write(json.dumps(verdict.to_dict(), ensure_ascii=False, sort_keys=True, default=str))
        stream.write("\n")


def junit_xml(verdicts: list[Verdict], *, wall_s: float, name: str = "apilog check") -> bytes:
    """JUnit XML (valid against the Jenkins xUnit ``junit-10.xsd``): a testsuite per operation,
    a testcase per contract.

    Not applicable and skipped verdicts are ``<skipped>``; a catalogue defect is also
    ``<skipped>`` (type ``catalogue-defect``) because the gateway cannot be blamed for it, and
    the CLI's exit status ignores it too; a failure is ``<failure>`` with the evidence as text.
    ``<testsuites time>`` is ``wall_s``, the run's wall-clock time: operations are checked
    concurrently, so the sum of the case times overstates it several times over. The schema
    allows no ``skipped`` count on ``<testsuites>``; each ``<testsuite>`` carries its own.
    """
    counts = summarise(verdicts)
    root = ET.Element("testsuites", {
        "name": name,
        "tests": str(len(verdicts)),
        "failures": str(counts[FAILED]),
        "errors": "0",
        "time": _seconds(wall_s * 1000),
    })
    for path, method, action in operations_in(verdicts):
        members = [v for v in verdicts if (v.path, v.method, v.action) == (path, method, action)]
        label = f"{method} {path}?action={action}"
        member_counts = summarise(members)
        suite = ET.SubElement(root, "testsuite", {
            "name": label,
            "tests": str(len(members)),
            "failures": str(member_counts[FAILED]),
            "skipped": str(len(members) - member_counts[FAILED] - member_counts[PASSED]),
            "errors": "0",
            "time": _seconds(sum(v.elapsed_ms for v in members)),
        })
        for verdict in members:
            case = ET.SubElement(suite, "testcase", {
                "classname": label,
                "name": verdict.contract,
                "time": _seconds(verdict.elapsed_ms),
            })
            evidence = json.dumps(verdict.evidence, ensure_ascii=False, sort_keys=True, default=str)
            if verdict.verdict == FAILED:
                failure = ET.SubElement(case, "failure", {"message": verdict.reason, "type": FAILED})
                failure.text = evidence
            elif verdict.verdict != PASSED:
                ET.SubElement(case, "skipped", {"message": f"{verdict.verdict}: {verdict.reason}",
                                                "type": verdict.verdict})
            if verdict.verdict == PASSED and verdict.evidence:
                ET.SubElement(case, "system-out").text = evidence
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _seconds(milliseconds: float) -> str:
    return f"{milliseconds / 1000:.3f}"
