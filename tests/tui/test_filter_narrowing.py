"""A keystroke filters the rows an earlier filter left (FilterCache): always the rows a filter of
every row gives, whether the operator types on, deletes a character, inverts or writes a regex."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screens.filtering import (
    CHUNK,
    FilterCache,
    SearchIndex,
    Stale,
    field_text,
    narrows,
    parse_filter,
    select,
)
from tests.tui.conftest import settle

FIELDS = frozenset({"method", "path"})
METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE")


def rows(count: int) -> tuple[SearchIndex, dict[str, list[str]]]:
    """``count`` rows of mixed methods, paths and words, indexed as the catalogue view does."""
    haystacks, columns = [], {"method": [], "path": []}
    for n in range(count):
        method, path = METHODS[n % 5], f"/svc{n % 37}/item{n % 11}"
        words = ("retry", "kafka event", "rate limit", "ſtraße")[n % 4]
        haystacks.append(f"{method} {path} {words}".lower())
        columns["method"].append(field_text(method))
        columns["path"].append(field_text(path))
    return SearchIndex(haystacks), columns


def typed(text: str) -> list[str]:
    """What the filter bar holds after each key: typed on, then erased one character at a time."""
    forward = [text[:end] for end in range(1, len(text) + 1)]
    return forward + forward[-2::-1] + [""]


@pytest.mark.parametrize(
    "text",
    [
        "svc1",
        "method:p path:/svc2",
        "!kafka",
        "put !retry",
        '~"^put /svc(1|2)0"',
        "~^pu?t",
        "~put|get",
        "~\\d/item1",
        "~PUT /SVC",
        "method:~^p(ut|atch)",
    ],
)
def test_each_keystroke_gives_the_rows_of_a_full_filter(text):
    index, columns = rows(3000)
    cache = FilterCache(index, columns, size=4)
    for state in typed(text):
        flt = parse_filter(state, FIELDS)
        if flt.error is not None:
            continue  # the view keeps the last good rows; nothing is filtered
        assert cache.select(flt) == select(flt, index, columns), state


KEYS = st.sampled_from(list("pu t/svc12!~^|?*()ek:") + ["method:", "path:", "BACK", "BACK"])


@settings(max_examples=150, deadline=None)
@given(st.lists(KEYS, min_size=1, max_size=25))
def test_any_edit_sequence_gives_the_rows_of_a_full_filter(keys):
    index, columns = rows(400)
    cache = FilterCache(index, columns, size=3)
    text = ""
    for key in keys:
        text = text[:-1] if key == "BACK" else text + key
        flt = parse_filter(text, FIELDS)
        if flt.error is None:
            assert cache.select(flt) == select(flt, index, columns), text


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("svc", "svc1", True),  # typing on
        ("svc1", "svc", False),  # a deleted character widens
        ("svc", "svc put", True),  # another term
        ("!k", "!ka", False),  # an inverted word that grows lets more rows through
        ("method:p", "method:pu", True),
        ('~"^put /s"', '~"^put /s(1|2)"', True),
        ('~"^put /s"', '~"^put /s?"', False),  # ? makes the last character optional
        ("~put", "~put|get", False),
        ("~put", "~PUT", False),  # upper case asks for IGNORECASE: another expression
    ],
)
def test_which_filters_narrow_which(old, new, expected):
    assert narrows(parse_filter(new, FIELDS), parse_filter(old, FIELDS)) is expected


def test_a_stale_filter_stops_part_way():
    index, columns = rows(3 * CHUNK)
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1  # a newer keystroke arrives after the first chunk

    with pytest.raises(Stale):
        select(parse_filter("~svc", FIELDS), index, columns, stop=stop)
    assert len(asked) == 2


def test_lower_case_regex_matches_without_ignorecase_and_upper_case_still_ignores_case():
    index, columns = rows(50)
    lower = select(parse_filter("~put /svc", FIELDS), index, columns)
    assert lower and lower == select(parse_filter("~PUT /SVC", FIELDS), index, columns)
    # \W is "not a word character": IGNORECASE must not turn it into anything else.
    assert select(parse_filter("~put\\W/", FIELDS), index, columns) == lower


@pytest.mark.parametrize("in_thread_above", [200_000, 1_000])
async def test_typing_then_deleting_in_a_big_catalogue_shows_the_full_filters_rows(
    make_app, monkeypatch, in_thread_above
):
    """Over 20,000 operations the index is built in a thread; keystrokes narrow earlier results
    on the loop, or in a thread when they must look at many rows (forced here with 1,000)."""
    from bench.bench_tui import big_catalogue
    from screens import catalogue_view

    monkeypatch.setattr(catalogue_view, "FILTER_IN_THREAD_ABOVE", in_thread_above)
    app = make_app(catalogue=big_catalogue(25_000))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        assert len(view.shown) == 25_000
        await pilot.press("slash")
        for key in [*"service12 method:p", "backspace", "backspace", "backspace", *"!kafka"]:
            await pilot.press(key)
            await settle(pilot)
            flt = view.current_filter
            assert view.applied is flt
            assert view.shown == select(flt, view.haystacks, view.columns), flt.text
            assert f"{len(view.shown)} shown" in str(
                view.query_one("#catalogue-summary").render()
            )
