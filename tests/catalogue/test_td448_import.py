"""The shipped TD448 document imports exactly: 320 rows, 152 operations, 62 pages."""

from __future__ import annotations

import collections
import unicodedata

import pytest

from console.catalogue import DEFAULT_CATALOGUE, load_catalogue
from console.catalogue import vocabulary as vocab
from console.catalogue.formats import parse_text
from console.catalogue.td448 import DESCRIPTION

RAW = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
LINES = RAW.split("\n")


def _continued(line: int) -> bool:
    """Whether the row starting at ``line`` (1-based) goes on after a page break."""
    for text in LINES[line:]:
        if not text.strip() or "VIETTEL AI RACE" in text or "Lần ban hành" in text:
            continue
        return text.startswith("\t\t")
    return False


def test_counts(catalogue):
    assert len(catalogue.rows) == 320
    assert [r.row for r in catalogue.rows] == list(range(1, 321))
    assert len(catalogue.operations) == 152
    assert len(catalogue.paths) == 7
    assert {r.page for r in catalogue.rows} == set(range(1, 63))
    pages = [r.page for r in catalogue.rows]
    assert pages == sorted(pages), "rows come in document order"


def test_every_row_matches_its_first_line_and_its_own_description(catalogue):
    """Path and method are the cells of the row's first line; the description, a different cell,
    independently names the same path, method and action."""
    for row in catalogue.rows:
        cells = LINES[row.line - 1].split("\t")
        assert cells[0] == row.path and cells[1] == row.method, row
        assert row.description == DESCRIPTION.format(
            path=row.path, method=row.method, action=vocab.term(row.action).vi), row


def test_page_numbers_follow_the_page_furniture(catalogue):
    for row in catalogue.rows:
        furniture_before = sum(1 for line in LINES[: row.line] if "VIETTEL AI RACE" in line)
        assert row.page == furniture_before, row


def test_whole_rows_are_read_as_printed(catalogue):
    """Rows printed on one line: every label cell reads back to the row's slugs and parameters."""
    checked = 0
    for row in catalogue.rows:
        cells = LINES[row.line - 1].split("\t")
        if _continued(row.line) or "kịch" in cells[4]:
            continue
        assert vocab.match("action", cells[2]).slug == row.action
        assert vocab.match("result", cells[4]).slug == row.result.slug
        assert vocab.match("policy", cells[5]).slug == row.policy.slug
        checked += 1
    assert checked > 270


def test_contract_counts_equal_the_label_counts_in_the_text(catalogue):
    """Count each label in the raw text (whole cells) and compare with the import, rows cut by a
    page break included (their cells are counted by their first fragment)."""
    starts = collections.Counter()
    for line in LINES:
        cells = line.split("\t")
        if len(cells) == 6 and cells[0].startswith("/"):
            starts[cells[4].split()[0].lower()] += 1
    imported = collections.Counter(r.result.label("vi").split()[0].lower() for r in catalogue.rows)
    assert starts == imported


def test_rows_cut_by_page_breaks_are_joined(catalogue):
    by_line = {r.line: r for r in catalogue.rows}
    # "Retry tối đa 3 lần" printed whole, then "đa 3 lần" again after the break.
    line = next(i for i, text in enumerate(LINES, 1) if text.split("\t")[4:5] == ["đa 3 lần"])
    row = max((r for r in catalogue.rows if r.line < line), key=lambda r: r.line)
    assert row.result.slug == "retry" and row.result.params["max_retries"] == 3
    # The row starts on one page and continues on the next: its page is where it starts.
    assert row.page == sum(1 for t in LINES[: row.line] if "VIETTEL AI RACE" in t)
    # "sử dụng" + "dùng": the description keeps the phrase once.
    cut = [r for r in catalogue.rows if r.line and LINES[r.line - 1].split("\t")[3].endswith("sử dụng")]
    assert cut and all("sử dụng phương thức" in r.description for r in cut)
    assert by_line[1 + LINES.index(LINES[row.line - 1])] is row


def test_typo_is_snapped_and_reported_with_row_and_page(catalogue):
    notes = [n for n in catalogue.notes if "kịch" in n.message]
    assert len(notes) == 1
    note = notes[0]
    assert note.severity == "warning" and note.rule == "corrected-typo"
    row = catalogue.rows[note.row - 1]
    assert row.result.slug == "kafka-event"
    assert note.page == row.page
    assert "kịch" in LINES[row.line - 1]


def test_parameters_are_read_from_the_text(catalogue):
    row = catalogue.rows[0]
    assert row.policy.slug == "rate-limit"
    assert row.policy.params == {"limit": 1000, "window_s": 60}
    sla = next(r.result for r in catalogue.rows if r.result.slug == "latency-sla")
    assert sla.params == {"max_ms": 1000}
    versioning = next(r.policy for r in catalogue.rows if r.policy.slug == "versioning")
    assert versioning.params == {"versions": ["v1", "v2"]}


@pytest.mark.parametrize(("result", "policy", "expected_result", "expected_policy"), [
    ("Retry tối đa 5 lần", "Giới hạn rate-limit 500 req/min", {"max_retries": 5}, {"limit": 500, "window_s": 60}),
    ("Thành công <2s", "Có versioning v1/v2/v3", {"max_ms": 2000}, {"versions": ["v1", "v2", "v3"]}),
    ("Thành công <250ms", "Hỗ trợ JSON và XML", {"max_ms": 250}, {}),
])
def test_other_catalogues_get_other_numbers(result, policy, expected_result, expected_policy):
    text = f"/a/b\tPOST\tThêm bản ghi\tmô tả\t{result}\t{policy}\n"
    row = parse_text(text, "other.txt").rows[0]
    assert row.result.params == expected_result
    assert row.policy.params == expected_policy
    assert row.result.label("vi") == result


def test_operations_are_the_union_of_their_rows(catalogue):
    for op in catalogue.operations:
        rows = [catalogue.rows[n - 1] for n in op.rows]
        assert {r.operation_key for r in rows} == {op.key}
        assert set(op.contracts) == {r.result for r in rows} | {r.policy for r in rows}
    keys = collections.Counter(r.operation_key for r in catalogue.rows)
    assert sorted(keys) == sorted(op.key for op in catalogue.operations)
    assert sum(len(op.rows) for op in catalogue.operations) == 320


def test_labels_travel_in_both_languages(catalogue):
    op = catalogue.operations[0]
    for contract in op.contracts:
        assert contract.label("vi") and contract.label("en")
        assert contract.label("vi") != contract.label("en")
    assert vocab.term("add-record").label("vi") == "Thêm bản ghi"
    assert vocab.term("add-record").label("en") == "Add record"


@pytest.mark.parametrize("variant", ["nfd", "crlf", "nfd+crlf", "bom+cr"])
def test_other_exports_of_the_same_document_read_the_same(tmp_path, catalogue, variant):
    text = RAW
    if "nfd" in variant:
        text = unicodedata.normalize("NFD", text)
    if "crlf" in variant:
        text = text.replace("\n", "\r\n")
    if "cr" in variant and "crlf" not in variant:
        text = text.replace("\n", "\r")
    data = text.encode("utf-8")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / "td448-other.txt"
    path.write_bytes(data)
    other = load_catalogue(path)
    assert [r.to_dict() for r in other.rows] == [r.to_dict() for r in catalogue.rows]
