"""What the console's screens and widgets need of the app, as a type: ``self.console``.

Textual types ``self.app`` as a plain ``App``; the views need the console's own members (the
session, the labels, the catalogue, the header's state). ``ConsoleApp`` names exactly those, and
:class:`ConsoleNode` gives every screen and widget a typed ``self.console`` — without the views
importing ``screens.app``, which creates them (that would be an import cycle).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.dom import DOMNode

if TYPE_CHECKING:
    from console.catalogue import Catalogue, Operation
    from console.session import Session
    from screens.i18n import Labels
    from screens.runtime import Runtime
    from screens.state import ConnectionState


class ConsoleApp(Protocol):
    """The members of ``screens.app.ApilogApp`` that views and widgets use."""

    catalogue: Catalogue
    session: Session | None
    runtime: Runtime | None
    readonly: bool
    labels: Labels
    clock: Callable[[], datetime]
    events_from: Any

    @property
    def connection(self) -> ConnectionState: ...

    def update_connection(self, **changes: Any) -> None: ...
    def open_call(self, operation: Operation, **prefill: Any) -> None: ...
    def open_transaction(self, tx_id: str) -> None: ...
    def open_event(self, event_id: str) -> None: ...
    def get_key_display_for(self, action_id: str) -> str: ...
    def start_runtime(self) -> None: ...


def is_text_area(widget: object) -> bool:
    """Whether ``widget`` is Textual's TextArea, without importing it for the first frame
    (~13 ms CPU: python -c "import textual.app, ...; import textual.widgets._text_area" timed
    with process_time): until a view with an editor is opened its module is not loaded, and
    then no TextArea exists."""
    module = sys.modules.get("textual.widgets._text_area")
    return module is not None and isinstance(widget, module.TextArea)


class ConsoleNode:
    """Mixin for the console's screens and widgets: ``self.console`` is the app, typed."""

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", cast(DOMNode, self).app)
