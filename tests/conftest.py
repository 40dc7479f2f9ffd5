"""Shared fixtures. Each part keeps its fixtures in ``tests/support/<part>.py``, listed here."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.broker",
    "tests.support.gateway",
    "tests.support.txlog",
]


@pytest.fixture(scope="session")
def catalogue():
    """The shipped TD448 catalogue."""
    from console.catalogue import load_catalogue

    return load_catalogue()


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """No test reads or writes the developer's own config or data."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name in ("APILOG_PROFILE", "APILOG_BASE_URL", "APILOG_TOKEN_URL", "APILOG_CLIENT_ID",
                 "APILOG_CLIENT_SECRET", "APILOG_KAFKA_BOOTSTRAP", "APILOG_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
