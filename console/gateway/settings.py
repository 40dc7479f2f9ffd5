"""Everything the reference gateway is configured by, in one dataclass.

The CLI, the embedded sandbox and the test fixtures all build a :class:`GatewaySettings` and
hand it to :func:`console.gateway.app.create_app` (or :class:`console.gateway.server.GatewayServer`),
so the three start the very same gateway.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.catalogue import Catalogue

#: Environment variables naming the sandbox client (docs/contracts.md, "Fixed names").
CLIENT_ID_ENV = "APILOG_SANDBOX_CLIENT_ID"
CLIENT_SECRET_ENV = "APILOG_SANDBOX_CLIENT_SECRET"
DEFAULT_CLIENT_ID = "apilog-sandbox"

#: Body and JSON keys whose values never reach the access log.
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "authorization", "proxy-authorization", "cookie", "set-cookie", "password", "secret",
    "client_secret", "access_token", "refresh_token", "id_token", "token", "api_key", "apikey",
)


@dataclass
class GatewaySettings:
    """How one gateway instance runs. Call :meth:`resolved` before use to fill the defaults."""

    #: A loaded catalogue, a catalogue file, or None for the shipped TD448 catalogue.
    catalogue: Catalogue | str | Path | None = None
    #: The gateway's own SQLite database (domains, outbox); None = a file under the data dir.
    db_path: Path | None = None
    #: Kafka bootstrap servers for the outbox relay; None = events wait in the outbox.
    kafka_bootstrap: str | None = None
    #: Honour the X-Fault-* request headers (the sandbox default; never in production).
    faults: bool = False
    host: str = "127.0.0.1"
    #: 0 = pick a free port when the server starts.
    port: int = 8080
    #: Public base URL; None = ``http://host:port`` (``https://`` when serving TLS).
    base_url: str | None = None
    #: Serve HTTPS with this PEM certificate (chain) and its private key.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: JWT ``iss``; None = the base URL.
    issuer: str | None = None
    audience: str = "apilog-gateway"
    token_ttl_s: int = 900
    #: Sandbox client; None = from the environment, else generated.
    client_id: str | None = None
    client_secret: str | None = None
    #: Where the secret came from, for the start-up banner ("APILOG_SANDBOX_CLIENT_SECRET", …).
    secret_source: str = ""
    max_body_bytes: int = 1_048_576
    #: The largest event the gateway commits, in bytes as the Kafka producer counts a record:
    #: set it to the broker's ``max.message.bytes``. The producer's ``max_request_size`` and the
    #: topics' ``max.message.bytes`` are set to it; a change whose event is larger is refused (413).
    max_event_bytes: int = 1_048_576
    #: Idempotency keys kept in the gateway database: at most this many, this many bytes of
    #: stored responses, this many seconds (the oldest go first).
    idempotency_max_keys: int = 50_000
    idempotency_max_bytes: int = 64 * 1_048_576
    idempotency_ttl_s: float = 24 * 3600
    #: full-log bodies are cut past this many bytes (and flagged as truncated).
    log_body_bytes: int = 16_384
    #: How many access-log records stay fetchable from memory by request id.
    log_capacity: int = 20_000
    #: Also append every record to this NDJSON file.
    log_path: Path | None = None
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    #: How often the outbox relay looks for work when nothing woke it up.
    outbox_poll_s: float = 0.5
    #: Extra clients (id -> secret) allowed every scope, for tests that need two callers.
    extra_clients: dict[str, str] = field(default_factory=dict)

    def resolved(self) -> ResolvedSettings:
        """A copy with every None default filled (URLs, client, database path)."""
        base_url = self.base_url
        if base_url is None:
            scheme = "https" if self.tls_cert else "http"
            base_url = f"{scheme}://{self.host}:{self.port}"
        base_url = base_url.rstrip("/")
        client_secret, secret_source = self.client_secret, self.secret_source
        if client_secret is None:
            from_env = os.environ.get(CLIENT_SECRET_ENV)
            client_secret = from_env or secrets.token_urlsafe(32)
            secret_source = f"${CLIENT_SECRET_ENV}" if from_env else "generated at start"
        elif not secret_source:
            secret_source = "given by the caller"
        client_id = self.client_id
        if client_id is None:
            client_id = os.environ.get(CLIENT_ID_ENV) or DEFAULT_CLIENT_ID
        db_path = Path(data_dir() / "gateway.db" if self.db_path is None else self.db_path)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(base_url=base_url, issuer=base_url if self.issuer is None else self.issuer,
                      client_id=client_id, client_secret=client_secret,
                      secret_source=secret_source, db_path=db_path)
        return ResolvedSettings(**values)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    def load_catalogue(self) -> Catalogue:
        """The catalogue object, loading the file when one was named."""
        from console.catalogue import Catalogue, load_catalogue

        if isinstance(self.catalogue, Catalogue):
            return self.catalogue
        return load_catalogue(self.catalogue)


@dataclass(kw_only=True)
class ResolvedSettings(GatewaySettings):
    """Settings with every default filled, as :meth:`GatewaySettings.resolved` returns them:
    what a running gateway reads, so its URL, client and database are never None."""

    # field() without a default: else the dataclass would take the parent's None as default.
    base_url: str = field()
    issuer: str = field()
    client_id: str = field()
    client_secret: str = field()
    db_path: Path = field()


def data_dir() -> Path:
    """Where apilog keeps its files: ``console.config``'s answer, so the gateway's database and
    the sandbox sit beside the transaction log however that rule changes. Imported on call:
    reading TOML is not needed to start a gateway."""
    from console.config import data_dir as shared_data_dir

    return shared_data_dir()
