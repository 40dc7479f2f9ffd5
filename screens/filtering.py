"""The `/` filter grammar, the same in every view (documented in docs/console.md).

``word``            the row's text contains the word (case-insensitive; the text is what the row
                    shows, in the console's language, plus the slugs behind the labels)
``field:value``     a word of the field starts with ``value``, in the slug or the label on screen
                    (``outcome:rolled`` finds ``rolled_back`` / "rolled back", ``action:thêm`` or
                    ``action:them`` finds add-record in Vietnamese); fields differ by view
``~regex``          a regular expression over the row's text (``field:~regex`` over one field)
``!term``           rows that do NOT match the term
``"two words"``     quotes keep spaces inside one term (``~"^put /crm"``)
Terms combine with AND. A broken regular expression is reported (``Filter.error``), never
matched as something else.
"""

from __future__ import annotations

import bisect
import itertools
import re
import re._parser as _regex_parser  # the parse tree `re` compiles from: see _extends
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

FIELD_TERM = re.compile(r"^(?P<field>[a-z_]+):(?P<value>.*)$", re.DOTALL)
#: One term: runs of non-space characters and quoted strings (an unclosed quote runs to the end).
TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*"?)+')
#: Separates a field's alternatives (slug, label, label without accents) in a field's text.
SEP = "\n"


def fold(text: str) -> str:
    """Lower case without accents: ``Thêm bản ghi`` → ``them ban ghi`` (đ → d)."""
    if text.isascii():  # nothing to take off: most of the catalogue (indexing 152 ops: ~7.5 → ~5 ms)
        return text.lower()
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def field_text(*values: str | None) -> str:
    """A field's searchable text: every alternative given (slug, label…), lower-cased, plus the
    labels without accents, each on its own line so a prefix or a ``^`` anchors to any of them."""
    seen: dict[str, None] = {}
    for value in values:
        if value:
            lowered = value.lower()
            seen[lowered] = None
            seen[fold(lowered)] = None
    return SEP + SEP.join(seen)


@dataclass(frozen=True)
class Term:
    """One term of a filter; ``value`` is lower case."""

    kind: str  # "word", "field" or "regex"
    value: str
    field: str | None = None
    negate: bool = False
    #: Field terms: a word of the field starts with the value; regex terms: the expression.
    pattern: re.Pattern[str] | None = None

    def hit(self, haystack: str, fields: Mapping[str, str]) -> bool:
        if self.field is not None:
            text = fields.get(self.field, "")
            if self.kind == "field" and self.value not in text:
                return False  # the cheap test first: most rows fail it
            assert self.pattern is not None
            return self.pattern.search(text) is not None
        if self.kind == "word":
            return self.value in haystack
        assert self.pattern is not None
        return self.pattern.search(haystack) is not None


@dataclass(frozen=True)
class Filter:
    text: str
    terms: tuple[Term, ...] = ()
    #: Why the text cannot be used (a broken regex), or None; such a filter selects nothing new:
    #: views keep showing the last good one and mark the prompt.
    error: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.terms

    def matches(self, haystack: str, fields: Mapping[str, str]) -> bool:
        """``haystack`` and field texts must be lower case already (done once per row); a field
        text may be plain or made by :func:`field_text`."""
        return all(term.hit(haystack, fields) != term.negate for term in self.terms)

    def field_values(self, name: str) -> list[str]:
        """The values of the positive ``name:value`` terms (for a view that pushes them to SQL)."""
        return [t.value for t in self.terms if t.field == name and t.kind == "field"
                and not t.negate]


def _word_start(value: str) -> re.Pattern[str]:
    # Not preceded by a letter or digit: the value starts a word ("back" in "rolled_back").
    return re.compile(r"(?<![^\W_])" + re.escape(value), re.MULTILINE)


def _regex(expression: str, where: str) -> re.Pattern[str]:
    # MULTILINE only over a field, whose alternatives are lines: over a row's one-line text it
    # would stop "^…" from failing at once (measured: 14× slower at 100,000 rows).
    # Rows' text is lower case already, so IGNORECASE matters only to an expression with upper
    # case in it (`\W`, `[A-Z]`); without it `re` keeps its fast literal scan: `put /s` over
    # 100,000 rows took 109 ms with IGNORECASE and 17 ms without (CPU time, same rows).
    case = re.IGNORECASE if expression != expression.lower() else 0
    flags = case | (re.MULTILINE if where else 0)
    try:
        return re.compile(expression, flags)
    except re.error as exc:
        raise ValueError(f"{where}~{expression}: {exc}") from None


def parse_filter(text: str, known_fields: frozenset[str] = frozenset()) -> Filter:
    """Parse what the operator typed after ``/``; unknown ``name:`` prefixes stay plain words
    (``http://`` is a word); a term still being typed (``!``, ``~``, ``method:``) matches all."""
    terms: list[Term] = []
    try:
        for token in TOKEN.findall(text):
            negate = token.startswith("!")
            word = token[1:] if negate else token
            word = word.replace('"', "")
            field = None
            match = FIELD_TERM.match(word)
            if match and match["field"].lower() in known_fields:
                field, word = match["field"].lower(), match["value"]
            if word == "~":
                continue  # a regex about to be typed: nothing to match yet
            if word.startswith("~"):
                pattern = _regex(word[1:], f"{field}:" if field else "")
                terms.append(Term("regex", word[1:].lower(), field, negate, pattern))
            elif field is not None and word:
                value = word.lower()
                terms.append(Term("field", value, field, negate, _word_start(value)))
            elif word and field is None:
                terms.append(Term("word", word.lower(), None, negate))
    except ValueError as exc:
        return Filter(text, (), f"regex {exc}")
    return Filter(text, tuple(terms))


def filter_hint(fields: frozenset[str]) -> str:
    """The prompt's placeholder: the grammar in one line."""
    names = " ".join(f"{name}:…" for name in sorted(fields))
    return "  ".join(part for part in ("/ words", names, "~regex", "!not") if part)


class SearchIndex:
    """Rows' lower-cased text, also joined into one string so a plain word is found by a
    C-level scan (one ``str.find`` per matching row) instead of a Python call per row."""

    def __init__(self, haystacks: Sequence[str]) -> None:
        self.haystacks = haystacks
        self._starts = list(itertools.accumulate((len(h) + 1 for h in haystacks), initial=0))
        self._joined = "\n".join(haystacks)

    def __len__(self) -> int:
        return len(self.haystacks)

    def __getitem__(self, index: int) -> str:
        return self.haystacks[index]

    def is_rare(self, word: str) -> bool:
        """Few enough rows hold ``word`` for :meth:`find_all` to beat a scan of every row (one
        C-level count first): each hit costs a bisect and a ``find``, ~10 rows' worth of a
        comprehension (measured at 100,000 rows: "s", found in every row, took 85 ms by
        ``find_all`` and 7 ms by the scan). Counted in eight spread samples, an eighth of the
        text: counting all of it costs as much as the scan."""
        joined, parts = self._joined, 64
        step = len(joined) // parts
        if step < 1000:
            return joined.count(word) * 10 < len(self.haystacks)
        sampled = sum(joined.count(word, at, at + step) for at in range(0, len(joined), 8 * step))
        return sampled * 8 * 10 < len(self.haystacks)

    def find_all(self, word: str) -> list[int]:
        """Indices of rows containing ``word`` (lower case), in order."""
        joined, starts, found = self._joined, self._starts, []
        position = joined.find(word)
        while position >= 0:
            row = bisect.bisect_right(starts, position) - 1
            found.append(row)
            position = joined.find(word, starts[row + 1]) if row + 1 < len(starts) - 1 else -1
        return found


class Stale(Exception):
    """A newer keystroke made this filter pointless: :func:`select` stopped part way."""


#: Rows between two looks at ``stop``: a stale filter gives the GIL back within ~1 ms.
CHUNK = 8192


def select(
    flt: Filter,
    haystacks: Sequence[str] | SearchIndex,
    columns: Mapping[str, Sequence[str]],
    within: Sequence[int] | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[int]:
    """Indices of the rows that pass ``flt``, in order.

    ``haystacks[i]`` is row i's lower-cased text and ``columns[name][i]`` its field ``name``
    (made by :func:`field_text`). One tight comprehension per term instead of a method call per
    row: at 100,000 rows this is the difference between a keystroke that lags and one that
    does not. ``within`` (ascending indices known to hold every row that passes, see
    :class:`FilterCache`) limits the scan to those rows. ``stop()`` is asked every
    :data:`CHUNK` rows; when it says yes, :class:`Stale` is raised.
    """
    indices: Sequence[int] = range(len(haystacks)) if within is None else within
    terms = list(flt.terms)
    first = next((t for t in terms if t.kind == "word" and not t.negate), None)
    if (
        within is None
        and first is not None
        and isinstance(haystacks, SearchIndex)
        and SEP not in first.value
        and haystacks.is_rare(first.value)
    ):
        indices = haystacks.find_all(first.value)
        terms.remove(first)
    # The plain list: indexing it is a C-level step, SearchIndex.__getitem__ a Python call per row.
    texts = haystacks.haystacks if isinstance(haystacks, SearchIndex) else haystacks
    for term in terms:
        indices = _chunked(term, indices, texts, columns, stop)
    return list(indices)


def _chunked(
    term: Term,
    indices: Sequence[int],
    haystacks: Sequence[str],
    columns: Mapping[str, Sequence[str]],
    stop: Callable[[], bool] | None,
) -> list[int]:
    """:func:`_passing`, a :data:`CHUNK` of rows at a time while ``stop`` may say stop."""
    if stop is None or len(indices) <= CHUNK:
        if stop is not None and stop():
            raise Stale
        return _passing(term, indices, haystacks, columns)
    found: list[int] = []
    for offset in range(0, len(indices), CHUNK):
        if stop():
            raise Stale
        found += _passing(term, indices[offset : offset + CHUNK], haystacks, columns)
    return found


def _passing(
    term: Term,
    indices: Sequence[int],
    haystacks: Sequence[str],
    columns: Mapping[str, Sequence[str]],
) -> list[int]:
    """The rows of ``indices`` that pass ``term``."""
    keep = not term.negate
    if term.field is not None:
        column = columns.get(term.field)
        if column is None:
            return [] if keep else list(indices)
        search = term.pattern.search  # type: ignore[union-attr]
        if term.kind == "field":
            value, start = term.value, SEP + term.value
            # A value that starts an alternative needs no regex (the common case).
            hits = [
                i for i in indices
                if start in column[i] or (value in column[i] and search(column[i]))
            ]
        else:
            hits = [i for i in indices if search(column[i])]
        return hits if keep else _without(indices, hits)
    if term.kind == "word":
        value = term.value
        if keep:
            return [i for i in indices if value in haystacks[i]]
        return [i for i in indices if value not in haystacks[i]]
    search = term.pattern.search  # type: ignore[union-attr]
    # map() calls the regex from C, with no Python frame per row: 20 ms instead of 27 ms for a
    # regex over 100,000 rows (CPU time).
    texts: Iterable[str]
    if isinstance(indices, range) and indices.step == 1:
        texts = haystacks[indices.start : indices.stop]
    else:
        texts = map(haystacks.__getitem__, indices)
    hits = list(itertools.compress(indices, map(search, texts)))
    return hits if keep else _without(indices, hits)


def implies(new: Term, old: Term) -> bool:
    """Every row ``new`` lets through, ``old`` lets through too (so ``new`` can filter what
    ``old`` left instead of every row): the same term, a plain word that contains ``old``'s,
    or a field value that starts with ``old``'s. Negations and regexes only as the same term:
    ``!ka`` keeps more rows than ``!k``, and ``~ab|`` more than ``~ab``."""
    if new == old:
        return True
    if new.negate or old.negate or new.kind != old.kind or new.field != old.field:
        return False
    if new.kind == "word":
        return old.value in new.value
    if new.kind == "field":
        return new.value.startswith(old.value)
    assert new.pattern is not None and old.pattern is not None
    return _extends(new.pattern, old.pattern)


def _extends(new: re.Pattern[str], old: re.Pattern[str]) -> bool:
    """``new`` is ``old`` followed by more (``^put /crm`` then ``^put /crm(1|2)``): whatever
    ``new`` finds begins with what ``old`` finds. Decided on the parsed expressions, so ``?``,
    ``*`` or ``|`` typed after ``old`` (which widen it) do not count: they change its last item
    or the whole. Parts compare by value only where they are plain (a group compares by
    identity), which errs towards "no"."""
    if new.flags != old.flags:
        return False
    try:
        head = list(_regex_parser.parse(old.pattern, old.flags))
        items = list(_regex_parser.parse(new.pattern, new.flags))
    except Exception:  # the parser's own errors; both compiled, so not expected
        return False
    return len(items) > len(head) and items[: len(head)] == head


def narrows(new: Filter, old: Filter) -> bool:
    """Every row ``new`` passes, ``old`` passes: each of ``old``'s terms is implied by one of
    ``new``'s (typing on, or adding a term, narrows; deleting a character does not)."""
    return all(any(implies(n, o) for n in new.terms) for o in old.terms)


class FilterCache:
    """The results of the last few filters over one index, so that a keystroke filters the
    smallest earlier result its filter narrows instead of every row, and a deleted character
    finds the result it had a moment ago. Safe to use from the filter thread and the UI loop
    (results are never changed once stored)."""

    def __init__(
        self,
        haystacks: Sequence[str] | SearchIndex,
        columns: Mapping[str, Sequence[str]],
        size: int = 16,
    ) -> None:
        self.haystacks = haystacks
        self.columns = columns
        self.size = size
        self._results: dict[tuple[Term, ...], tuple[Filter, list[int]]] = {}

    def _base(self, flt: Filter) -> tuple[list[int] | None, list[int] | None]:
        """``flt``'s rows if known, else the smallest known result ``flt`` narrows (or None)."""
        known = self._results.get(flt.terms)
        if known is not None:
            return known[1], None
        base: list[int] | None = None
        for old, rows in list(self._results.values()):
            if (base is None or len(rows) < len(base)) and narrows(flt, old):
                base = rows
        return None, base

    def work(self, flt: Filter) -> int:
        """How many rows :meth:`select` would look at for ``flt`` (0: its rows are known)."""
        known, base = self._base(flt)
        if known is not None:
            return 0
        return len(self.haystacks) if base is None else len(base)

    def select(self, flt: Filter, stop: Callable[[], bool] | None = None) -> list[int]:
        """:func:`select` of ``flt`` (raises :class:`Stale` as it does); the list is shared:
        do not change it."""
        known, base = self._base(flt)
        if known is not None:
            return known
        rows = select(flt, self.haystacks, self.columns, within=base, stop=stop)
        results = self._results
        results[flt.terms] = (flt, rows)
        while len(results) > self.size:
            # The oldest; None: the loop and a filter thread may both trim at once.
            results.pop(next(iter(results)), None)
        return rows


def _without(indices: Sequence[int], hits: list[int]) -> list[int]:
    drop = set(hits)
    return [i for i in indices if i not in drop]
