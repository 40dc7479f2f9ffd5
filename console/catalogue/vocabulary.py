"""The catalogue's words: actions, result contracts and policy notes, as printed and as slugs.

Labels are matched after Unicode NFC normalisation, case folding and white-space folding.
Parameters are read from the printed text ("rate-limit 500 req/min" gives ``limit=500``), never
hard-coded, so another catalogue with other numbers keeps them.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["action", "result", "policy"]

METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Methods that may not be retried without an Idempotency-Key (RFC 9110 §9.2.2).
NON_IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})
#: Methods that carry an action's fields as query parameters and send no body (docs/contracts.md:
#: "GET and DELETE carry their fields as query parameters"; HEAD and OPTIONS have no body either).
QUERY_METHODS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Term:
    """One word of the vocabulary."""

    kind: Kind
    slug: str
    vi: str
    en: str
    #: Matches the printed text (folded) and captures parameters by group name.
    pattern: re.Pattern[str]
    #: Parameter name -> converter for the captured text.
    params: tuple[tuple[str, Callable[[str], Any]], ...] = ()
    #: Parameter values for the canonical (shipped) wording.
    defaults: tuple[tuple[str, Any], ...] = ()

    def parse(self, folded: str) -> dict[str, Any] | None:
        match = self.pattern.fullmatch(folded)
        if match is None:
            return None
        return {name: convert(match.group(name)) for name, convert in self.params}

    def label(self, lang: str, params: dict[str, Any] | None = None) -> str:
        """The label in ``lang`` ("vi" or "en"), with ``params`` put back into the wording."""
        text = self.vi if lang == "vi" else self.en
        return render(text, {**dict(self.defaults), **(params or {})})


def _versions(text: str) -> list[str]:
    return [v.strip() for v in text.split("/") if v.strip()]


def _seconds_to_ms(text: str) -> int:
    value = float(text.replace(",", "."))
    return int(round(value * 1000))


def _ms(text: str) -> int:
    return int(text)


def render(template: str, params: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders; ``{max_s}`` is derived from ``max_ms``."""
    values = dict(params)
    if "max_ms" in values:
        seconds = values["max_ms"] / 1000
        values["max_s"] = f"{seconds:g}"
    if "versions" in values and isinstance(values["versions"], list):
        values["versions"] = "/".join(values["versions"])
    return template.format(**values)


def _rx(text: str) -> re.Pattern[str]:
    return re.compile(text)


TERMS: tuple[Term, ...] = (
    Term("action", "add-record", "Thêm bản ghi", "Add record", _rx(r"thêm bản ghi")),
    Term("action", "delete-info", "Xóa thông tin", "Delete information", _rx(r"xóa thông tin")),
    Term("action", "check-status", "Kiểm tra trạng thái", "Check status", _rx(r"kiểm tra trạng thái")),
    Term("action", "export-data", "Export dữ liệu", "Export data", _rx(r"export dữ liệu")),
    Term("action", "update-config", "Cập nhật cấu hình", "Update configuration", _rx(r"cập nhật cấu hình")),
    Term("result", "rollback-on-error", "Rollback khi lỗi", "Rollback on error", _rx(r"rollback khi lỗi")),
    Term("result", "kafka-event", "Thông báo sự kiện qua Kafka", "Event notification via Kafka",
         _rx(r"thông báo sự kiện qua kafka")),
    Term("result", "latency-sla", "Thành công <{max_s}s", "Success in under {max_s} s",
         _rx(r"thành công ?< ?(?P<max_ms>\d+(?:[.,]\d+)?) ?s"), (("max_ms", _seconds_to_ms),),
         (("max_ms", 1000),)),
    Term("result", "latency-sla", "Thành công <{max_ms}ms", "Success in under {max_ms} ms",
         _rx(r"thành công ?< ?(?P<max_ms>\d+) ?ms"), (("max_ms", _ms),), (("max_ms", 1000),)),
    Term("result", "full-log", "Log đầy đủ", "Full log", _rx(r"log đầy đủ")),
    Term("result", "retry", "Retry tối đa {max_retries} lần", "Retry at most {max_retries} times",
         _rx(r"retry tối đa (?P<max_retries>\d+) lần"), (("max_retries", int),), (("max_retries", 3),)),
    Term("policy", "rate-limit", "Giới hạn rate-limit {limit} req/min", "Rate limit {limit} req/min",
         _rx(r"giới hạn rate-limit (?P<limit>\d+) req/min"), (("limit", int),), (("limit", 1000),)),
    Term("policy", "api-gateway", "Tích hợp với API Gateway", "Integrated with the API Gateway",
         _rx(r"tích hợp với api gateway")),
    Term("policy", "versioning", "Có versioning {versions}", "Versioning {versions}",
         _rx(r"có versioning (?P<versions>v\d+(?:/v\d+)+)"), (("versions", _versions),),
         (("versions", ["v1", "v2"]),)),
    Term("policy", "json-xml", "Hỗ trợ JSON và XML", "Supports JSON and XML", _rx(r"hỗ trợ json và xml")),
    Term("policy", "restful", "Theo chuẩn RESTful", "Follows REST conventions", _rx(r"theo chuẩn restful")),
    # A row of a catalogue imported from OpenAPI whose document states no result contract or no
    # policy for the operation: the row needs both columns, the operation carries neither.
    Term("result", "no-result", "Không nêu kết quả", "No result contract stated", _rx(r"không nêu kết quả")),
    Term("policy", "no-policy", "Không nêu chính sách", "No policy stated", _rx(r"không nêu chính sách")),
)

#: Placeholders for a column the source left empty; never a contract of an operation.
UNSTATED = frozenset({"no-result", "no-policy"})

#: Parameters that a contract always carries, with the window of the rate limit (per minute).
FIXED_PARAMS: dict[str, dict[str, Any]] = {"rate-limit": {"window_s": 60}}

SLUGS: dict[Kind, tuple[str, ...]] = {
    kind: tuple(dict.fromkeys(t.slug for t in TERMS if t.kind == kind))
    for kind in ("action", "result", "policy")
}
ACTIONS = SLUGS["action"]
READ_ACTIONS = frozenset({"check-status", "export-data"})
WRITE_ACTIONS = frozenset({"add-record", "delete-info", "update-config"})


def may_change_state(method: str, action: str) -> bool:
    """Whether a call may change state: a write action, or a method that is not safe.

    The one rule behind read-only profiles, the console's mutating markers and the checks that
    need ``--allow-writes``.
    """
    return action in WRITE_ACTIONS or method.upper() not in SAFE_METHODS

#: The seven domains of the shipped catalogue, one per path.
KNOWN_DOMAINS: dict[str, str] = {
    "/customer/update": "customer",
    "/invoice/export": "invoice",
    "/security/firewall/config": "firewall",
    "/ivr/callflow": "ivr",
    "/crm/lead/import": "crm-lead",
    "/rpa/task/execute": "rpa-task",
    "/network/qos/monitor": "qos",
}


def domain_of(path: str) -> str:
    """The domain a path acts on: the seven of TD448, else the path's segments but the last."""
    if path in KNOWN_DOMAINS:
        return KNOWN_DOMAINS[path]
    segments = [s for s in path.strip("/").split("/") if s]
    if len(segments) > 1:
        segments = segments[:-1]
    slug = "-".join(segments).lower()
    return re.sub(r"[^a-z0-9-]+", "-", slug).strip("-") or "default"


def fold(text: str) -> str:
    """NFC, case-folded, single-spaced: the form labels are compared in."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.casefold().split())


def strip_accents(text: str) -> str:
    """Vietnamese without diacritics (đ → d), for fuzzy comparison."""
    decomposed = unicodedata.normalize("NFD", fold(text)).replace("đ", "d")
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def terms_of(kind: Kind) -> tuple[Term, ...]:
    return tuple(t for t in TERMS if t.kind == kind)


def term(slug: str) -> Term:
    """The first term with ``slug`` (its canonical wording)."""
    for candidate in TERMS:
        if candidate.slug == slug:
            return candidate
    raise KeyError(slug)


def label(slug: str, lang: str, params: dict[str, Any] | None = None) -> str:
    """The wording of ``slug`` with ``params``; latencies under a second read in milliseconds."""
    variants = [t for t in TERMS if t.slug == slug]
    if not variants:
        raise KeyError(slug)
    chosen = variants[0]
    max_ms = (params or {}).get("max_ms")
    if slug == "latency-sla" and isinstance(max_ms, int) and (max_ms < 1000 or max_ms % 100):
        chosen = variants[-1]
    return chosen.label(lang, params)


def kind_of(slug: str) -> Kind:
    return term(slug).kind


@dataclass(frozen=True)
class Match:
    """What a printed label resolved to."""

    slug: str
    params: dict[str, Any]
    #: "exact", "corrected" (a typo snapped to the vocabulary) or "unknown".
    how: Literal["exact", "corrected", "unknown"]
    #: For "corrected" and "unknown": the closest known wording.
    closest: str | None = None


def match(kind: Kind, text: str) -> Match:
    """Resolve a printed label, or a slug, to a vocabulary term."""
    found = _match(kind, text)
    return Match(found.slug, dict(found.params), found.how, found.closest)


@functools.lru_cache(maxsize=4096)
def _match(kind: Kind, text: str) -> Match:
    folded = fold(text)
    for candidate in terms_of(kind):
        if folded == candidate.slug:
            return Match(candidate.slug, _with_fixed(candidate.slug, dict(candidate.defaults)), "exact")
        params = candidate.parse(folded)
        if params is not None:
            return Match(candidate.slug, _with_fixed(candidate.slug, params), "exact")
    # A typo: compare without diacritics, keeping the numbers the text printed.
    best: tuple[float, Term] | None = None
    bare = strip_accents(folded)
    for candidate in terms_of(kind):
        canonical = strip_accents(candidate.label("vi"))
        ratio = difflib.SequenceMatcher(None, bare, canonical).ratio()
        if best is None or ratio > best[0]:
            best = (ratio, candidate)
    assert best is not None
    ratio, candidate = best
    numbers = re.findall(r"\d+(?:[.,]\d+)?", folded)
    params = dict(candidate.defaults)
    for (name, convert), number in zip(candidate.params, numbers, strict=False):
        with contextlib.suppress(ValueError):
            params[name] = convert(number)
    if ratio >= 0.8:
        return Match(candidate.slug, _with_fixed(candidate.slug, params), "corrected", candidate.label("vi", params))
    return Match("", {}, "unknown", candidate.label("vi", params))


def _with_fixed(slug: str, params: dict[str, Any]) -> dict[str, Any]:
    return {**params, **FIXED_PARAMS.get(slug, {})}


def match_method(text: str) -> str | None:
    """``GET``, ``POST``… from any case, or None when it is not an HTTP method we serve."""
    method = text.strip().upper()
    return method if method in METHODS else None


def closest_method(text: str) -> str:
    return (difflib.get_close_matches(text.strip().upper(), METHODS, n=1, cutoff=0) or ["GET"])[0]
