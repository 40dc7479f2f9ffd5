"""An HTTPS gateway for tests: certificates from a CA made in the test, and a stranger CA.

The certificates come from :func:`tests.support.secure_kafka.make_pki` (one place makes test
CAs): the server's certificate names localhost and 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import start_gateway
from tests.support.secure_kafka import make_pki


@dataclass
class TlsFiles:
    ca: Path           #: the CA that signed the server's certificate
    cert: Path         #: the server's certificate, for 127.0.0.1 and localhost
    key: Path          #: its private key
    stranger_ca: Path  #: a CA that signed nothing here


def make_tls_files(directory: Path) -> TlsFiles:
    pki = make_pki(directory / "pki")
    stranger = make_pki(directory / "stranger", "someone else's CA")
    return TlsFiles(pki.ca_file, pki.cert_file, pki.key_file, stranger.ca_file)


@pytest.fixture
def tls_gateway(tmp_path: Path) -> Iterator[tuple[Any, TlsFiles]]:
    """A gateway serving HTTPS on loopback, and the files its clients trust (or not)."""
    files = make_tls_files(tmp_path / "tls")
    gw = start_gateway(db_path=tmp_path / "gateway.db", tls_cert=files.cert, tls_key=files.key)
    yield gw, files
    gw.server.stop()
