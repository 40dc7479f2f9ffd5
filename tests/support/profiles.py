"""Write the operator's config file where apilog reads it (the test's own XDG_CONFIG_HOME)."""

from __future__ import annotations

from pathlib import Path

from console.config import config_path


def write_config(text: str) -> Path:
    """``text`` as ``$XDG_CONFIG_HOME/apilog/config.toml``; its path."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
