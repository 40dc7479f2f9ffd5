"""Shared fixtures. Each part keeps its fixtures in ``tests/support/<part>.py``, listed here."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.broker",
    "tests.support.gateway",
    "tests.support.secure_kafka",
    "tests.support.txlog",
    "tests.support.tls",
]


#: Fixtures that start real processes (the Kafka broker, a gateway on it): a test that uses one,
#: even through another fixture, belongs to the slow tier. ``pytest -m "not slow"`` is the quick
#: loop while editing the core (no broker, no gateway process, no console); CI runs everything.
SLOW_FIXTURES = frozenset({"kafka_broker", "private_broker", "gateway_factory", "tls_kafka",
                           "mtls_kafka", "sasl_kafka"})
#: Folders whose every test drives the console (Pilot or tmux): seconds each, so the slow tier.
SLOW_FOLDERS = ("tui", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        folder = Path(str(item.path)).relative_to(tests_dir).parts[0]
        if folder in SLOW_FOLDERS or SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """No test reads or writes the developer's cache (parsed catalogues): one for the session,
    set before any session fixture loads a catalogue."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


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


@pytest.fixture
def no_proxy_env(monkeypatch):
    """No proxy from the developer's environment; tests set the ones they need on the result."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch
