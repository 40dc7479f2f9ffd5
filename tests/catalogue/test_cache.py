"""Parsed catalogues kept between runs: read back as parsed, never stale, never in the way."""

from __future__ import annotations

import stat

import pytest

from console.catalogue import DEFAULT_CATALOGUE, CatalogueError, load_catalogue
from console.catalogue import formats as formats_module
from console.catalogue.cache import KEEP, cache_dir
from console.catalogue.formats import write_catalogue


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "apilog" / "catalogues"


@pytest.fixture
def no_parsing(monkeypatch):
    """From here on, parsing a catalogue fails the test: what loads came from the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("the catalogue was parsed again")

    def start():
        monkeypatch.setattr(formats_module, "parse_text", refuse)
    return start


def _as_parsed(catalogue):
    return repr((catalogue.rows, catalogue.notes, catalogue.title, catalogue.source,
                 [(op.key, op.contracts, op.rows, op.pages) for op in catalogue.operations]))


def test_the_shipped_catalogue_is_read_back_as_parsed_from_a_private_file(own_cache, no_parsing):
    parsed = load_catalogue()
    assert cache_dir() == own_cache
    entries = list(own_cache.glob("*.json"))
    assert len(entries) == 1
    assert stat.S_IMODE(own_cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(entries[0].stat().st_mode) == 0o600
    no_parsing()
    again = load_catalogue()
    assert _as_parsed(again) == _as_parsed(parsed)
    assert len(again.rows) == 320 and again.notes  # the import notes (typos, page breaks) too


def test_a_changed_file_is_parsed_again_not_read_from_the_old_entry(own_cache, tmp_path):
    path = tmp_path / "td448.txt"
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first = load_catalogue(path)
    path.write_text(text.replace("/customer/update", "/customer/renamed", 1), encoding="utf-8")
    second = load_catalogue(path)
    assert first.rows[0].path == "/customer/update"
    assert second.rows[0].path == "/customer/renamed"
    assert len(list(own_cache.glob("*.json"))) == 2


def test_the_same_bytes_under_another_name_keep_their_own_source(own_cache, tmp_path):
    (tmp_path / "a.txt").write_bytes(DEFAULT_CATALOGUE.read_bytes())
    (tmp_path / "b.txt").write_bytes(DEFAULT_CATALOGUE.read_bytes())
    assert load_catalogue(tmp_path / "a.txt").source == str(tmp_path / "a.txt")
    assert load_catalogue(tmp_path / "b.txt").source == str(tmp_path / "b.txt")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "md"])
def test_other_formats_come_back_as_parsed(own_cache, tmp_path, catalogue, fmt, no_parsing):
    path = tmp_path / f"catalogue.{fmt}"
    path.write_text(write_catalogue(catalogue, fmt), encoding="utf-8")
    parsed = load_catalogue(path)
    no_parsing()
    assert _as_parsed(load_catalogue(path)) == _as_parsed(parsed)


def test_a_corrupt_entry_is_parsed_around_and_replaced(own_cache):
    parsed = load_catalogue()
    (entry,) = own_cache.glob("*.json")
    entry.write_text('{"rows": [[1, 2]]', encoding="utf-8")
    assert _as_parsed(load_catalogue()) == _as_parsed(parsed)
    assert _as_parsed(load_catalogue()) == _as_parsed(parsed)
    assert entry.read_text(encoding="utf-8").startswith('{"title"')


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert len(load_catalogue().rows) == 320
    assert len(load_catalogue().rows) == 320


def test_a_file_that_does_not_parse_is_refused_every_time(own_cache, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("path,method,action,result,policy\n/b,FETCH,check-status,full-log,restful\n",
                    encoding="utf-8")
    for _ in range(2):
        with pytest.raises(CatalogueError, match="FETCH"):
            load_catalogue(path)
    assert not list(own_cache.glob("*.json"))


def test_only_the_newest_entries_are_kept(own_cache, tmp_path, catalogue):
    text = write_catalogue(catalogue, "csv")
    for i in range(KEEP + 3):
        path = tmp_path / f"c{i}.csv"
        path.write_text(text, encoding="utf-8")
        load_catalogue(path)
    assert len(list(own_cache.glob("*.json"))) == KEEP
