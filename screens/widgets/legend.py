"""What the short badges mean: the legend in `?` and beside an operation's contracts.

The badges come from the catalogue's contracts (``RB``, ``RT3``, ``<1s``…) and the conformance
grid's columns (``AUTH``, ``TXL``…); their words come from the catalogue vocabulary, so a
catalogue with other numbers (``RT5``) explains itself with its own numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text

from console.catalogue.vocabulary import term

#: Short badges for the contract columns; the detail pane gives the full words.
BADGES: dict[str, tuple[str, str]] = {
    "rollback-on-error": ("RB", "bold magenta"),
    "kafka-event": ("EV", "bold cyan"),
    "latency-sla": ("SLA", "bold green"),
    "full-log": ("LOG", "bold blue"),
    "retry": ("RT", "bold yellow"),
    "rate-limit": ("RL", "bold red"),
    "api-gateway": ("GW", "dim"),
    "versioning": ("V", "bold"),
    "json-xml": ("XML", "bold"),
    "restful": ("REST", "dim"),
}

def badge_text(slug: str, params: dict) -> str:
    short, _ = BADGES.get(slug, (slug[:4].upper(), ""))
    if slug == "latency-sla" and "max_ms" in params:
        return f"<{params['max_ms'] / 1000:g}s"
    if slug == "retry" and "max_retries" in params:
        return f"RT{params['max_retries']}"
    if slug == "rate-limit" and "limit" in params:
        return f"RL{params['limit']}"
    if slug == "versioning" and params.get("versions"):
        return "/".join(params["versions"])
    return short

#: Conformance contracts that are not catalogue words: the console names them itself.
_CHECK_ONLY = {
    "oauth2": "OAuth2 token required",
    "transaction-log": "every call in the transaction log",
}


def contract_words(slug: str, labels: Any, params: dict[str, Any] | None = None) -> str:
    """The contract's words in the console's language, with its own numbers."""
    try:
        return term(slug).label(labels.lang, params)
    except KeyError:
        return labels(_CHECK_ONLY.get(slug, slug))


def catalogue_legend(labels: Any) -> list[tuple[str, str]]:
    """One row per catalogue badge, as the shipped catalogue prints it, then the ⚠ column."""
    rows = []
    for slug in BADGES:
        defaults = dict(term(slug).defaults)
        rows.append((badge_text(slug, defaults), contract_words(slug, labels)))
    rows.append(("⚠ 2", labels("catalogue findings on this operation (the detail lists them)")))
    return rows


def check_legend(labels: Any, short: dict[str, str], glyphs: dict[str, tuple[str, str]]) -> list:
    """The conformance grid's column names, then its verdict glyphs."""
    rows = [(name, contract_words(slug, labels)) for slug, name in short.items()]
    rows += [(glyph, labels(verdict)) for verdict, (glyph, _) in glyphs.items()]
    return rows


def contract_legend(contracts: Iterable[Any], lang: str) -> Text:
    """``RB Rollback on error · RT3 Retry at most 3 times …`` for one operation's contracts."""
    text = Text()
    for index, contract in enumerate(contracts):
        if index:
            text.append(" · ", style="dim")
        style = BADGES.get(contract.slug, ("", ""))[1]
        text.append(badge_text(contract.slug, contract.params), style=style)
        text.append(f" {contract.label(lang)}")
    return text
