"""One place that knows which screen class serves which `:` name."""

from __future__ import annotations

from textual.screen import Screen


def create(name: str) -> Screen:
    from screens.call_view import CallView
    from screens.catalogue_view import CatalogueView
    from screens.check_view import CheckView
    from screens.events_view import EventsView
    from screens.overview_view import OverviewView
    from screens.tx_view import TransactionsView

    classes = {
        "catalogue": CatalogueView,
        "call": CallView,
        "events": EventsView,
        "tx": TransactionsView,
        "overview": OverviewView,
        "check": CheckView,
    }
    return classes[name]()
