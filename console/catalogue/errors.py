"""Errors a catalogue file can have, each naming the file, the line and the fix."""

from __future__ import annotations

from console.errors import ApilogError


class CatalogueError(ApilogError):
    """A catalogue that cannot be read. ``str()`` is one line for the user."""

    def __init__(self, source: str, message: str, *, line: int | None = None, fix: str = "") -> None:
        self.source = source
        self.line = line
        self.message = message
        self.fix = fix
        where = f"{source}:{line}" if line is not None else source
        text = f"{where}: {message}"
        if fix:
            text += f" — {fix}"
        super().__init__(text)
