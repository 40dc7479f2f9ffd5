"""Named actions, kept apart from the keys that trigger them (as Harlequin does).

Every action has a kebab-case id; the default key map binds ids to keys. Textual's
``App.set_keymap({id: keys})`` remaps any of them without touching the screens, and an
operator's ``keys.toml`` (``send = "f5"``) does the same from the config directory. The k9s grammar
holds: navigation keys never do anything destructive, and every action that changes state is
marked ``mutates`` so read-only mode can drop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class ActionSpec:
    """One thing an operator can do: its id, the Textual action, a label id, and its risk."""

    id: str
    action: str
    label: str
    #: Changes state somewhere (a call that writes, a re-run): hidden in read-only mode.
    mutates: bool = False
    show: bool = True
    priority: bool = False


ACTIONS: dict[str, ActionSpec] = {
    spec.id: spec
    for spec in (
        # The shell: every view.
        # Priority: handled the moment they arrive, so the keys typed right after them in one burst
        # already find the prompt focused (the app drops them while someone is typing text).
        ActionSpec("jump", "app.jump", "jump", priority=True),
        ActionSpec("keys", "app.keys", "keys", priority=True),
        ActionSpec("back", "app.back", "back"),
        ActionSpec("filter", "app.filter", "filter", priority=True),
        ActionSpec("palette", "app.command_palette", "palette", show=False),
        ActionSpec("quit", "app.quit", "quit", priority=True),  # from any prompt or modal too
        # Priority: it must work from inside the body editor, the one place focus gets stuck.
        # Listed in `?`, not the footer: at 80 columns it pushed the view's own keys off.
        ActionSpec("focus-pane", "app.focus_pane", "go to pane", show=False, priority=True),
        # Catalogue.
        ActionSpec("toggle-rows", "toggle_rows", "toggle rows"),
        # Call.
        ActionSpec("send", "send", "send", mutates=False),
        ActionSpec("copy-curl", "copy_curl", "copy curl"),
        # One key per act in every view that has the thing to open (call, transactions, events).
        ActionSpec("open-event", "open_event", "open event"),
        ActionSpec("open-tx", "open_tx", "open tx"),
        # Events.
        ActionSpec("pause", "pause", "pause"),
        ActionSpec("load-skipped", "load_skipped", "load skipped"),
        # Transactions (and an event's call).
        ActionSpec("rerun", "rerun", "rerun", mutates=True),
        ActionSpec("edit-call", "edit_call", "edit & resend"),
        # Transactions and events: the console's own calls, or everyone's.
        ActionSpec("toggle-mine", "toggle_mine", "all"),
        ActionSpec("export", "export", "export"),
        # Check: the probes write to the gateway, so read-only mode has no way to start them.
        ActionSpec("run-check", "run_check", "run checks", mutates=True),
        ActionSpec("verdict-filter", "verdict_filter", "verdict"),
    )
}

#: Default keys per action id. Enter (the tables' own "open") and the arrows only ever navigate.
DEFAULT_KEYS: dict[str, str] = {
    "jump": "colon",
    "keys": "question_mark",
    "back": "escape",
    "filter": "slash",
    "palette": "ctrl+p",
    "quit": "ctrl+q",
    "focus-pane": "ctrl+f",
    "toggle-rows": "r",
    "send": "ctrl+s",
    "copy-curl": "ctrl+o",
    "open-event": "ctrl+g",
    "pause": "space",
    # ctrl+ so they work from the call view's editor too; "t" was the events view's alone.
    "open-tx": "ctrl+t",
    "load-skipped": "l",
    "rerun": "ctrl+r",
    "edit-call": "c",
    "toggle-mine": "a",
    "export": "e",
    "run-check": "ctrl+r",
    "verdict-filter": "v",
}


def bindings(*ids: str, labels=None) -> list[BindingType]:
    """Bindings for ``ids`` with their default keys; ``labels`` translates descriptions."""
    result: list[BindingType] = []
    for action_id in ids:
        spec = ACTIONS[action_id]
        label = labels(spec.label) if labels else spec.label
        result.append(
            Binding(
                DEFAULT_KEYS[action_id],
                spec.action,
                label,
                show=spec.show,
                id=action_id,
                priority=spec.priority,
                tooltip=label,
            )
        )
    return result


def mutating_actions() -> frozenset[str]:
    """Action names that read-only mode refuses."""
    return frozenset(spec.action for spec in ACTIONS.values() if spec.mutates)


def translate_bindings(node, labels) -> None:
    """Show binding descriptions in the console's language on one screen or widget.

    Bindings are declared once per class in English; the footer reads the node's own copy, so
    replacing that copy's descriptions is enough and leaves the class untouched.
    """
    from dataclasses import replace

    table = node._bindings.key_to_bindings
    for key, key_bindings in table.items():
        table[key] = [
            replace(
                b, description=labels(b.description), tooltip=labels(b.tooltip or b.description)
            )
            for b in key_bindings
        ]


class KeymapError(ValueError):
    """A keys file that cannot be used: the message names the file, the line and the fix."""


def keys_path() -> Path:
    """``$XDG_CONFIG_HOME/apilog/keys.toml``, beside the config file."""
    from console.config import config_path

    return config_path().parent / "keys.toml"


def load_keymap(path: Path) -> dict[str, str]:
    """Action id → key(s) from a TOML file (``send = "f5"``); no file means no changes.

    Validated once, up front: an unknown action id or a value that is not a key string is an
    error naming its line, so a typo never silently leaves a key unbound.
    """
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f'{path}: {exc}; write one `action-id = "key"` per line') from None
    keymap: dict[str, str] = {}
    for action_id, keys in data.items():
        line = _line_of(text, action_id)
        if action_id not in ACTIONS:
            known = ", ".join(sorted(ACTIONS))
            raise KeymapError(f"{path}:{line}: unknown action {action_id!r}; known: {known}")
        if not isinstance(keys, str) or not keys.strip():
            raise KeymapError(
                f'{path}:{line}: {action_id} needs a key string such as "f5" or "ctrl+y,f6"'
            )
        keymap[action_id] = keys.strip()
    return keymap


def _line_of(text: str, key: str) -> int | None:
    import re

    pattern = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None
