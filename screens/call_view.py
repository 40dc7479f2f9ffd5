"""Call: compose one call (method, action for that path+method, version, format, id, headers,
body), send it through the caller, and read what happened (status, time against the SLA, the
attempts, rolled back or not, the event it caused)."""

from __future__ import annotations

import contextlib
import json
from contextlib import suppress
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.events import Key
from textual.widgets import Input, Label, Select, Static, TabbedContent, TabPane, TextArea
from textual.widgets.select import InvalidSelectValueError

from console.catalogue.vocabulary import QUERY_METHODS
from console.errors import ApilogError
from screens.base import View
from screens.catalogue_view import is_mutating
from screens.host import ConsoleNode
from screens.keymap import bindings
from screens.widgets.response import (
    attempts_table,
    body_error,
    headers_text,
    pretty_body,
    render_summary,
)

#: A starting body per action; GET and DELETE send these fields as query parameters.
EXAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "add-record": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "update-config": {"retention_days": 30},
    "export-data": {"limit": 10},
    "check-status": {},
    "delete-info": {},
}


def example_body(action: str, fmt: str) -> str:
    """The example body for ``action`` in ``fmt`` (the gateway's mapping: keys → elements)."""
    fields = EXAMPLE_FIELDS.get(action, {})
    if fmt == "xml":
        inner = "".join(f"  <{key}>{value}</{key}>\n" for key, value in fields.items())
        return f"<request>\n{inner}</request>\n"
    return json.dumps(fields, indent=2) + "\n"


def is_example(text: str) -> bool:
    """Still one of the examples (so switching action or format may replace it)."""
    return text.strip() in {
        example_body(a, f).strip() for a in EXAMPLE_FIELDS for f in ("json", "xml")
    }


def fault_presets(operation: Any) -> dict[str, dict[str, str]]:
    """The reference gateway's fault headers, one preset per failure an operator rehearses.

    The delay goes past the operation's own SLA (``latency-sla``), whatever its number.
    """
    sla = operation.contract("latency-sla") if operation is not None else None
    max_ms = int(sla.params.get("max_ms", 1000)) if sla is not None else 1000
    return {
        "fail twice, then succeed": {"X-Fault-Fail-Attempts": "2"},
        "fail after the write (rolls back)": {"X-Fault-After-Write": "true"},
        "delay past the SLA": {"X-Fault-Delay-Ms": str(max_ms + 500)},
        "abort with 503": {"X-Fault-Abort": "503"},
    }


def with_faults(text: str, faults: dict[str, str]) -> str:
    """The headers line with its X-Fault-* headers replaced by ``faults``, others kept."""
    kept = {k: v for k, v in parse_headers(text).items() if not k.lower().startswith("x-fault-")}
    return "; ".join(f"{k}: {v}" for k, v in {**kept, **faults}.items())


def parse_headers(text: str) -> dict[str, str]:
    """``"X-A: 1; X-B: two"`` → ``{"X-A": "1", "X-B": "two"}``; colon-less pieces are dropped."""
    headers: dict[str, str] = {}
    for piece in text.split(";"):
        name, sep, value = piece.partition(":")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return headers


#: The response's tabs, the body first: for a 400 the reason is there, not below the headers.
RESPONSE_PANES = ("body", "headers", "attempts", "log")


class BodyEditor(ConsoleNode, TextArea):
    """The body editor: tab moves to the next pane, as `?` says (the editor indents by itself
    after enter); esc leaves the editor, as Textual's indenting editor does."""

    def on_key(self, event: Key) -> None:
        # Handled as the key arrives (not as a binding), so the footer keeps showing the
        # shell's esc, which it words "leave editor" while an editor has focus.
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self.screen.focus_next()


class CallView(View):
    VIEW = "call"
    FILTERABLE = False
    BINDINGS: ClassVar[list[BindingType]] = bindings("send", "copy-curl", "open-event", "open-tx")
    DEFAULT_CSS = """
    CallView .form-row { height: 1; }
    CallView .form-row Label { padding: 0 1 0 0; color: $text-muted; }
    CallView #call-path { width: 30; }
    CallView #call-method { width: 12; }
    CallView #call-action { width: 1fr; }
    CallView #call-version { width: 10; }
    CallView #call-format { width: 10; }
    CallView #call-id { width: 1fr; }
    CallView #call-headers { width: 1fr; }
    CallView #call-faults { width: 34; display: none; }
    CallView.-faults #call-faults { display: block; }
    CallView #call-split { height: 1fr; }
    CallView #call-body { width: 1fr; height: 1fr; border: round $panel-lighten-2; }
    CallView #call-response-box { width: 1fr; height: 1fr; border: round $panel-lighten-2; }
    CallView #call-response { height: auto; max-height: 7; padding: 0 1; }
    CallView #call-response-tabs { height: 1fr; }
    CallView #call-response-tabs TabPane { padding: 0 1; }
    CallView #call-body.-invalid { border: round $error; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.result: Any = None
        self.sending = False
        self._set_by_form: dict[str, object] = {}
        self.event_seen: Any = None
        #: A prefill asked for before the form was composed (the first jump here).
        self._pending: tuple | None = None

    def compose_body(self) -> ComposeResult:
        label = self.console.labels
        paths = [(p, p) for p in self._paths()]
        with Horizontal(classes="form-row"):
            yield Select(
                paths,
                id="call-path",
                compact=True,
                allow_blank=False,
                value=paths[0][1] if paths else Select.NULL,
            )
            yield Select([], id="call-method", compact=True, prompt=label("method"))
            yield Select([], id="call-action", compact=True, prompt=label("action"))
        with Horizontal(classes="form-row"):
            yield Label(label("version"))
            yield Select([], id="call-version", compact=True, prompt="–")
            yield Label(f" {label('format')}")
            yield Select(
                [("json", "json"), ("xml", "xml")],
                id="call-format",
                compact=True,
                allow_blank=False,
                value="json",
            )
            yield Label(f" {label('record id')}")
            yield Input(id="call-id", compact=True, placeholder="id")
        with Horizontal(classes="form-row"):
            yield Label(label("headers"))
            yield Input(
                id="call-headers",
                compact=True,
                # "e.g.": a bare example reads as headers already set (dim is lost in NO_COLOR).
                placeholder="e.g. X-Fault-Fail-Attempts: 2; X-Fault-After-Write: true",
            )
            # Offered only when the gateway honours the headers (its /healthz says faults: on).
            yield Select([], id="call-faults", compact=True, prompt=label("fault preset…"))
        with Horizontal(id="call-split"):
            yield BodyEditor(
                example_body("add-record", "json"),
                language="json",
                id="call-body",
                soft_wrap=True,
                show_line_numbers=False,
                # tab moves between panes, as `?` says; indenting is the editor's own two spaces.
                tab_behavior="focus",
            )
            with Vertical(id="call-response-box"):
                yield Static(Text(label("nothing yet"), style="dim"), id="call-response")
                # The body first: for a 400 the reason is there, not below the headers.
                with TabbedContent(id="call-response-tabs"):
                    for pane in RESPONSE_PANES:
                        with TabPane(label(pane), id=f"response-{pane}"), VerticalScroll():
                            yield Static(id=f"response-{pane}-text")

    def on_mount(self) -> None:
        super().on_mount()
        body = self.query_one("#call-body", TextArea)
        body.border_title = self.console.labels("body")
        self.query_one("#call-response-box").border_title = self.console.labels("response")
        body.cursor_blink = False
        self._refresh_methods()
        self.set_interval(0.5, self._watch_event)
        self.watch(self.app, "connection", self._offer_faults, init=True)

    # Fault presets ---------------------------------------------------------------------------

    def _offer_faults(self, state: Any) -> None:
        self.set_class(bool(state.faults), "-faults")
        self._fill_fault_presets()

    def _fill_fault_presets(self) -> None:
        label = self.console.labels
        select = self.query_one("#call-faults", Select)
        with self.prevent(Select.Changed):
            select.set_options([(label(name), name) for name in fault_presets(self.operation)])

    @on(Select.Changed, "#call-faults")
    def _fault_chosen(self, event: Select.Changed) -> None:
        if not isinstance(event.value, str):  # Select.NULL: the prompt, no preset
            return
        headers = self.query_one("#call-headers", Input)
        headers.value = with_faults(headers.value, fault_presets(self.operation)[event.value])

    def _paths(self) -> list[str]:
        return [p for p in self.console.catalogue.paths if self._operations(p)]

    def _operations(self, path: str, method: str | None = None) -> list[Any]:
        ops = self.console.catalogue.operations_for(path, method)
        if self.console.readonly:
            ops = [op for op in ops if not is_mutating(op)]
        return ops

    # Form ----------------------------------------------------------------------------------

    def prefill(
        self,
        operation: Any,
        *,
        record_id: str | None = None,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        version: str | None = None,
        fmt: str | None = None,
    ) -> None:
        """Fill the form for ``operation`` (from the catalogue's enter, or a logged call to edit
        and resend: then its version and format too)."""
        self._pending = (operation, record_id, headers, body, version, fmt)
        if self.is_mounted:
            self._apply_prefill()

    def on_screen_resume(self) -> None:
        # Focus is the base view's: back here, the operator is where they left (not the editor).
        if self._pending is not None:
            self._apply_prefill()

    def _apply_prefill(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        operation, record_id, headers, body, version, fmt = pending
        if operation != self.operation:
            self._forget_result()  # another operation's response would read as this one's
        with self.prevent(Select.Changed):
            self.query_one("#call-path", Select).value = operation.path
            self._refresh_methods(operation.method, operation.action)
            # A logged call's format or version the operation no longer offers stays the form's.
            if fmt is not None:
                with suppress(InvalidSelectValueError):
                    self.query_one("#call-format", Select).value = fmt
                    self._set_body_language(fmt)
            if version is not None:
                with suppress(InvalidSelectValueError):
                    self.query_one("#call-version", Select).value = version
        self.query_one("#call-id", Input).value = record_id or ""
        self.query_one("#call-headers", Input).value = "; ".join(
            f"{k}: {v}" for k, v in (headers or {}).items()
        )
        if body is not None:
            self.query_one("#call-body", TextArea).text = body

    def _refresh_methods(self, method: str | None = None, action: str | None = None) -> None:
        path = self.query_one("#call-path", Select).value
        self._set_by_form["path"] = path
        if not isinstance(path, str):  # Select.NULL: no path chosen
            return
        methods = list(dict.fromkeys(op.method for op in self._operations(path)))
        method_select = self.query_one("#call-method", Select)
        with self.prevent(Select.Changed):
            method_select.set_options([(m, m) for m in methods])
            method_select.value = (
                method if method in methods else (methods[0] if methods else Select.NULL)
            )
            self._set_by_form["method"] = method_select.value
            self._refresh_actions(action)

    def _refresh_actions(self, action: str | None = None) -> None:
        path = self.query_one("#call-path", Select).value
        method = self.query_one("#call-method", Select).value
        if not isinstance(path, str) or not isinstance(method, str):  # Select.NULL: not chosen
            return
        ops = self._operations(path, method)
        action_select = self.query_one("#call-action", Select)
        actions = [op.action for op in ops]
        with self.prevent(Select.Changed):
            action_select.set_options([(self.console.labels.term(op.action), op.action) for op in ops])
            action_select.value = (
                action if action in actions else (actions[0] if actions else Select.NULL)
            )
            self._set_by_form["action"] = action_select.value
            self._refresh_versions()

    def _refresh_versions(self) -> None:
        op = self.operation
        versions = []
        if op is not None and op.contract("versioning") is not None:
            versions = list(op.contract("versioning").params.get("versions", ["v1", "v2"]))
        select = self.query_one("#call-version", Select)
        select.set_options([(v, v) for v in versions])
        formats = ["json", "xml"] if op is not None and op.has("json-xml") else ["json"]
        fmt = self.query_one("#call-format", Select)
        current = fmt.value
        with self.prevent(Select.Changed):
            fmt.set_options([(f, f) for f in formats])
            fmt.value = current if current in formats else "json"
        self._set_body_language(str(fmt.value))
        body = self.query_one("#call-body", TextArea)
        if op is not None and is_example(body.text):
            body.text = example_body(op.action, str(fmt.value))

    # A Select reports every value it is given, including the ones this form set itself (and
    # those arrive late, after a prefill): only a value the form did not set is the operator's.

    def _operator_changed(self, field: str, event: Select.Changed) -> bool:
        """A fresh value (not a late report of an older one) that the form did not set."""
        return event.value == event.select.value and self._set_by_form.get(field) != event.value

    @on(Select.Changed, "#call-path")
    def _path_changed(self, event: Select.Changed) -> None:
        if self._operator_changed("path", event):
            self._refresh_methods()

    @on(Select.Changed, "#call-method")
    def _method_changed(self, event: Select.Changed) -> None:
        if self._operator_changed("method", event):
            self._refresh_actions()

    @on(Select.Changed, "#call-action")
    def _action_changed(self, event: Select.Changed) -> None:
        if self._operator_changed("action", event):
            self._refresh_versions()

    @on(Select.Changed, "#call-format")
    def _format_changed(self, event: Select.Changed) -> None:
        self._set_body_language(str(event.value))

    def _set_body_language(self, fmt: str) -> None:
        """Highlight the body as ``fmt``; swap the example body if it is still the example."""
        body = self.query_one("#call-body", TextArea)
        if body.language == fmt:
            return
        body.language = fmt
        op = self.operation
        if op is not None and is_example(body.text):
            body.text = example_body(op.action, fmt)

    @property
    def operation(self) -> Any:
        path = self.query_one("#call-path", Select).selection
        method = self.query_one("#call-method", Select).selection
        action = self.query_one("#call-action", Select).selection
        if path is None or method is None or action is None:
            return None
        return self.console.catalogue.operation(path, method, action)

    def build_request(self) -> Any:
        from console.caller import CallRequest

        op = self.operation
        version = self.query_one("#call-version", Select).selection
        # The format select offers only these two, and never a blank.
        fmt: Literal["json", "xml"] = (
            "xml" if self.query_one("#call-format", Select).selection == "xml" else "json"
        )
        text = self.query_one("#call-body", TextArea).text
        body: Any = text if text.strip() else None
        if body is not None and fmt == "json":
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        if op.method in QUERY_METHODS and not isinstance(body, dict):
            body = None
        return CallRequest(
            path=op.path,
            method=op.method,
            action=op.action,
            version=version,
            fmt=fmt,
            record_id=self.query_one("#call-id", Input).value or None,
            body=body,
            headers=parse_headers(self.query_one("#call-headers", Input).value),
        )

    # Sending -------------------------------------------------------------------------------

    def _check_body(self) -> bool:
        """The body parses as its format says, or the editor shows where it does not (line and
        column, the cursor put there) and nothing is sent."""
        editor = self.query_one("#call-body", TextArea)
        fmt = str(self.query_one("#call-format", Select).selection or "json")
        problem = body_error(editor.text, fmt)
        editor.set_class(problem is not None, "-invalid")
        editor.border_subtitle = None
        if problem is None:
            return True
        where = f"{self.console.labels('line')} {problem.line}, {self.console.labels('column')} {problem.column}"
        editor.border_subtitle = f"✗ {fmt} {where}: {problem.message}"
        editor.cursor_location = (problem.line - 1, max(problem.column - 1, 0))
        self.notify(f"{self.console.labels('body')}: {fmt} {where}: {problem.message} — "
                    f"{self.console.labels('not sent')}", severity="error")
        return False

    @on(TextArea.Changed, "#call-body")
    def _body_edited(self) -> None:
        editor = self.query_one("#call-body", TextArea)
        if editor.has_class("-invalid"):
            editor.remove_class("-invalid")
            editor.border_subtitle = None

    def action_send(self) -> None:
        op = self.operation
        if op is None or self.sending:
            return
        if not self._check_body():
            return
        if self.console.readonly and is_mutating(op):
            self.notify(self.console.labels("not offered in read-only mode"), severity="warning")
            return
        session = self.console.session
        if session is None or not session.connected:
            self.notify(self.console.labels("not connected"), severity="warning")
            return
        if op.action == "delete-info" or op.method == "DELETE":
            from screens.widgets.prompts import Confirm

            label = self.console.labels
            question = f"{label('send')} {op.label()}?\n⚠ {label('deletes data')}"

            def answered(yes: bool | None) -> None:
                if yes:
                    self._send(self.build_request())

            self.app.push_screen(Confirm(question), answered)
            return
        self._send(self.build_request())

    @work(exclusive=True, group="call", exit_on_error=False)
    async def _send(self, request: Any) -> None:
        self.sending = True
        self._clear_tabs()
        self.query_one("#call-response", Static).update(
            Text(f"{self.console.labels('sending')} {request.method} {request.path}…", style="yellow")
        )
        try:
            assert self.console.session is not None
            self.result = await self.console.session.call(request)
        except Exception as exc:
            self.query_one("#call-response", Static).update(
                Text(f"{type(exc).__name__}: {exc}", style="bold red")
            )
            return
        finally:
            self.sending = False
        self._show_result()

    def _forget_result(self) -> None:
        self.result = self.event_seen = None
        self.query_one("#call-response", Static).update(
            Text(self.console.labels("nothing yet"), style="dim")
        )
        self._clear_tabs()
        self.refresh_bindings()

    def _clear_tabs(self) -> None:
        for pane in RESPONSE_PANES:
            self.query_one(f"#response-{pane}-text", Static).update("")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Copy and jump are dimmed until there is a call to copy or an event to jump to."""
        allowed = super().check_action(action, parameters)
        if allowed and action == "copy_curl" and self.result is None:
            return None
        if allowed and action == "open_event" and not getattr(self.result, "event_id", None):
            return None
        if allowed and action == "open_tx" and self.result is None:
            return None
        return allowed

    def why_unavailable(self, action: str) -> str:
        if action in ("copy_curl", "open_event", "open_tx") and self.result is None:
            return self.console.labels("send the call first (ctrl+s)")
        if action == "open_event":
            return self.console.labels("this call published no event")
        return super().why_unavailable(action)

    def _show_result(self) -> None:
        self.refresh_bindings()
        if self.result is None:
            return
        self.event_seen = self._find_event()
        result, labels = self.result, self.console.labels
        self.query_one("#call-response", Static).update(
            render_summary(result, labels, event_seen=self.event_seen)
        )
        self.query_one("#response-body-text", Static).update(
            pretty_body(result.response_body, result.response_headers or {})
        )
        self.query_one("#response-headers-text", Static).update(
            headers_text(result.response_headers)
        )
        self.query_one("#response-attempts-text", Static).update(
            attempts_table(result.attempts, labels)
        )
        self.query_one("#response-log-text", Static).update(
            Text(labels("the gateway's record of this call loads when this tab opens"), style="dim")
        )
        if self.query_one("#call-response-tabs", TabbedContent).active == "response-log":
            self._load_gateway_log()

    @on(TabbedContent.TabActivated, "#call-response-tabs")
    def _tab_opened(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "response-log" and self.result is not None:
            self._load_gateway_log()

    @work(exclusive=True, group="gateway-log", exit_on_error=False)
    async def _load_gateway_log(self) -> None:
        """The gateway's own log record of the call (``/admin/log/{request_id}``), fetched only
        when the tab is opened: it needs a token with the admin scope, which a profile may lack."""
        result, session = self.result, self.console.session
        pane = self.query_one("#response-log-text", Static)
        if result is None or session is None or not result.request_id:
            pane.update(Text(self.console.labels("no request id to look up"), style="dim"))
            return
        try:
            record = await session.gateway_log(result.request_id)
        except ApilogError as exc:  # no admin scope, no record: say which, in the tab
            pane.update(Text(str(exc), style="yellow"))
            return
        if self.result is result:
            pane.update(pretty_body(json.dumps(record), {"content-type": "application/json"}))

    def _find_event(self) -> Any:
        runtime = self.console.runtime
        if runtime is None or not getattr(self.result, "event_id", None):
            return None
        return next((e for e in reversed(runtime.events) if e.id == self.result.event_id), None)

    def _watch_event(self) -> None:
        """Twice a second until the call's event has come through the feed, then mark it seen."""
        if self.result is not None and self.event_seen is None and self._find_event() is not None:
            # The timer can fire while the app tears the view down: nothing left to mark.
            with contextlib.suppress(NoMatches):
                self._show_result()

    def action_copy_curl(self) -> None:
        from console.caller.curl import to_curl

        if self.result is None:
            return
        self.app.copy_to_clipboard(to_curl(self.result))
        self.notify(f"curl {self.console.labels('copied')} (OSC 52)")

    def action_open_event(self) -> None:
        if self.result is not None and self.result.event_id:
            self.console.open_event(self.result.event_id)

    def action_open_tx(self) -> None:
        if self.result is not None:
            self.console.open_transaction(self.result.transaction_id)

    def focus_main(self) -> None:
        self.query_one("#call-body", TextArea).focus()
