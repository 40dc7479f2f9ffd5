"""What the three table views do with a filter the operator is typing: mark the `/` prompt when
it cannot be used (a broken regex) instead of showing an empty table, and say what an empty
table means."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from screens.filtering import Filter

#: Added to a view's DEFAULT_CSS: the prompt turns red while what it holds cannot be used.
INVALID_CSS = "FilterBar.-invalid { background: $error 45%; color: $text; }"


def mark_prompt(view: Any, flt: Filter) -> bool:
    """Mark ``view``'s prompt valid or not; True when ``flt`` can be applied."""
    bars = view.query("#filter")
    for bar in bars:
        bar.set_class(flt.error is not None, "-invalid")
        bar.tooltip = flt.error
    return flt.error is None


def filter_note(view: Any, shown: Filter) -> Text:
    """The summary's filter part: ``/text``, or the error and the filter still in force."""
    typed: Filter = view.current_filter
    text = Text()
    if typed.error is not None:
        text.append(f"  ✗ {typed.error}", style="bold red")
        if shown.text:
            text.append(f"  ({view.app.labels('still')} /{shown.text})", style="dim")
    elif shown.text:
        text.append(f"  /{shown.text}", style="bold")
    return text
