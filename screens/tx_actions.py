"""Acting on a logged call from wherever it is shown (the transactions view, an event's call):
copy it as curl, open it in the composer to edit and resend, rerun it as it was.

The same three acts, the same keys and the same palette commands in every view that shows a
transaction; the views only say which transaction the cursor is on (``cursor_tx_id``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from textual import work
from textual.binding import BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.catalogue.vocabulary import QUERY_METHODS
from console.errors import ApilogError
from screens.catalogue_view import is_mutating
from screens.host import ConsoleNode
from screens.keymap import bindings

#: Query parameters the caller sets from the request itself (not the operator's fields).
_OWN_PARAMS = frozenset({"action", "id"})


def tx_bindings() -> list[BindingType]:
    """copy as curl (ctrl+o, as in the composer), edit in the composer (c), rerun (ctrl+r)."""
    return bindings("copy-curl", "edit-call", "rerun")


def composer_body(tx: Any) -> str | None:
    """The body to put in the composer: the logged body, or for GET/DELETE the fields that went
    as query parameters (as a JSON object, the composer's way of writing them)."""
    if tx.method.upper() not in QUERY_METHODS:
        return tx.request_body
    fields = {k: v for k, v in parse_qsl(urlsplit(tx.url or "").query) if k not in _OWN_PARAMS}
    return json.dumps(fields, indent=2, ensure_ascii=False) + "\n" if fields else None


class TransactionActions(ConsoleNode):
    """Mixed into a view: ``cursor_tx_id()`` names the transaction the acts apply to."""

    app: Any

    def cursor_tx_id(self) -> str | None:
        raise NotImplementedError

    def _logged(self, tx_id: str) -> Any:
        session = self.console.session
        if session is None or not session.is_open:
            return None
        return session.txlog.get(tx_id)

    def _tx_or_say(self, tx_id: str | None) -> Any:
        """The logged transaction, or None after saying why there is none."""
        if tx_id is None:
            return None
        tx = self._logged(tx_id)
        if tx is None:
            self.notify(  # type: ignore[attr-defined]
                f"tx {tx_id}: {self.console.labels('not in this log')}", severity="warning"
            )
        return tx

    def action_copy_curl(self) -> None:
        from console.caller.curl import to_curl

        tx = self._tx_or_say(self.cursor_tx_id())
        if tx is None:
            return
        session = self.console.session
        # A log opened without a gateway still copies: curl needs only what the log kept.
        command = (
            session.curl(tx) if session is not None and session.connected else to_curl(tx)
        )
        self.app.copy_to_clipboard(command)
        self.notify(f"curl {self.console.labels('copied')} (OSC 52)")  # type: ignore[attr-defined]

    def action_edit_call(self) -> None:
        from console.caller import CallRequest

        tx = self._tx_or_say(self.cursor_tx_id())
        if tx is None:
            return
        request = CallRequest.from_transaction(tx)
        op = self.console.catalogue.operation(request.path, request.method, request.action)
        if op is None:
            self.notify(  # type: ignore[attr-defined]
                f"{request.method} {request.path}?action={request.action}: "
                f"{self.console.labels('not in the catalogue')}",
                severity="warning",
            )
            return
        self.console.open_call(
            op,
            record_id=request.record_id,
            headers=request.headers,
            body=composer_body(tx),
            version=request.version,
            fmt=request.fmt,
        )

    def action_rerun(self) -> None:
        tx = self._tx_or_say(self.cursor_tx_id())
        if tx is None:
            return
        op = self.console.catalogue.operation(tx.path, tx.method, tx.action)
        if op is not None and is_mutating(op):
            from screens.widgets.prompts import Confirm, rerun_question

            self.app.push_screen(
                Confirm(rerun_question(op, self.console.labels)),
                lambda yes: self._rerun(tx.id) if yes else None,
            )
        else:
            self._rerun(tx.id)

    @work(exclusive=True, group="tx-rerun", exit_on_error=False)
    async def _rerun(self, tx_id: str) -> None:
        label = self.console.labels
        session = self.console.session
        if session is None or not session.connected:
            self.notify(label("not connected"), severity="warning")  # type: ignore[attr-defined]
            return
        try:
            result = await session.rerun(tx_id)
        except ApilogError as exc:  # a policy refused it, or the row is gone: say which
            self.notify(str(exc), severity="warning")  # type: ignore[attr-defined]
            return
        from screens.widgets.prompts import rerun_result

        self.notify(  # type: ignore[attr-defined]
            f"{rerun_result(result, label)} · tx {result.transaction_id}"
        )
        self.after_rerun()

    def after_rerun(self) -> None:
        """A view showing the log reloads it."""

    def tx_commands(self) -> Iterable[tuple[str, str, Any]]:
        """(name shown, English name, callback) for the palette, when the cursor is on a transaction."""
        tx_id = self.cursor_tx_id()
        if tx_id is None:
            return []
        label = self.console.labels
        found = [
            ("copy as curl", self.action_copy_curl),
            ("edit & resend", self.action_edit_call),
        ]
        if not self.console.readonly:
            found.append(("rerun", self.action_rerun))
        return [(f"{label(name)} · tx {tx_id}", name, call) for name, call in found]


class TransactionCommands(Provider):
    """The palette's copy as curl / edit & resend / rerun for the transaction under the cursor."""

    def _commands(self) -> list[tuple[str, str, Any]]:
        screen = self.screen
        return list(screen.tx_commands()) if isinstance(screen, TransactionActions) else []

    async def discover(self) -> Hits:
        for name, _, callback in self._commands():
            yield DiscoveryHit(name, callback)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, english, callback in self._commands():
            # The English words match in every language: "curl" finds copy as curl in Vietnamese.
            score = max(matcher.match(name), matcher.match(english))
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(callback))
