"""One place that knows which screen class serves which `:` name."""

from __future__ import annotations

import importlib

from textual.screen import Screen

#: name -> "module:class". Only the view asked for is imported: the first frame needs the
#: catalogue alone, and the other five views' modules (with the caller, the transaction log,
#: rich's syntax highlighting and the conformance runner behind them) cost ~0.25 s more
#: (python -X importtime -c "import screens.call_view, screens.events_view, screens.tx_view,
#: screens.overview_view, screens.check_view" after screens.catalogue_view).
CLASSES: dict[str, str] = {
    "catalogue": "screens.catalogue_view:CatalogueView",
    "call": "screens.call_view:CallView",
    "events": "screens.events_view:EventsView",
    "tx": "screens.tx_view:TransactionsView",
    "overview": "screens.overview_view:OverviewView",
    "check": "screens.check_view:CheckView",
}


def create(name: str) -> Screen:
    module, cls = CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)()
