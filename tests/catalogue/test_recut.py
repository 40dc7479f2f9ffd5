"""Re-cutting the document at other page breaks gives the same rows (property test).

The test writes the catalogue back as a TD448-style export with its own page furniture, cutting
rows across page breaks at random word boundaries — sometimes repeating the word at the cut, as
the PDF export does — and in NFC or NFD with LF or CRLF, then imports it again.
"""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.catalogue import vocabulary as vocab
from console.catalogue.formats import parse_text
from console.catalogue.td448 import decode

FURNITURE = ["", "\tVIETTEL AI RACE\t\tTD448", "\tQUẢN LÝ API & LOG\t\tLần ban hành: 1", ""]
HEADER = "API\tPhương thức\tHành động\tMô tả chi tiết\tKết quả\tGhi chú"


def _cells(row):
    return [row.path, row.method, vocab.term(row.action).vi, row.description,
            row.result.label("vi"), row.policy.label("vi")]


def _split(text: str, at: int, repeat: bool) -> tuple[str, str]:
    words = text.split()
    at = at % (len(words) + 1)
    left, right = words[:at], words[at:]
    if repeat and left and right:
        right = [left[-1], *right]
    return " ".join(left), " ".join(right)


@st.composite
def exports(draw, rows):
    rows_per_page = draw(st.integers(min_value=1, max_value=12))
    lines = list(FURNITURE) + [HEADER]
    pages = []
    page = 1
    on_page = 0
    for row in rows:
        if on_page == rows_per_page:
            lines += FURNITURE
            page += 1
            on_page = 0
        pages.append(page)
        on_page += 1
        cells = _cells(row)
        last_on_page = on_page == rows_per_page
        if last_on_page and draw(st.booleans()):
            first, rest = cells[:2], ["", ""]
            for cell in cells[2:]:
                left, right = _split(cell, draw(st.integers(0, 40)), draw(st.booleans()))
                first.append(left)
                rest.append(right)
            lines.append("\t".join(first))
            lines += FURNITURE
            page += 1
            on_page = 0
            lines.append("\t".join(rest))
        else:
            lines.append("\t".join(cells))
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = unicodedata.normalize("NFD", text)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text, pages


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_recut_document_gives_the_same_rows(catalogue, data):
    start = data.draw(st.integers(0, 300))
    rows = catalogue.rows[start:start + data.draw(st.integers(1, 40))]
    text, pages = data.draw(exports(rows))
    again = parse_text(decode(text.encode("utf-8"), "recut.txt"), "recut.txt")
    assert [(r.path, r.method, r.action, r.result, r.policy, r.description) for r in again.rows] == \
        [(r.path, r.method, r.action, r.result, r.policy, r.description) for r in rows]
    assert [r.page for r in again.rows] == pages
    assert not [n for n in again.notes if n.severity != "info"]
