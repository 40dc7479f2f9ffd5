"""Profiles: where the gateway, its token endpoint and its Kafka cluster are, and how to log in.

The file is TOML at ``$XDG_CONFIG_HOME/apilog/config.toml`` (see ``docs/config.md``)::

    default_profile = "staging"
    redact_keys = ["x-partner-key"]

    [profiles.staging]
    base_url = "https://api.staging.example"
    token_url = "https://api.staging.example/oauth/token"
    client_id = "ops-console"
    client_secret_env = "STAGING_CLIENT_SECRET"
    scopes = ["customer:read", "customer:write"]
    kafka_bootstrap = "kafka-1:9093,kafka-2:9093"
    readonly = true

    [profiles.staging.kafka]
    security_protocol = "SASL_SSL"
    sasl_mechanism = "SCRAM-SHA-512"
    username = "ops"
    password_env = "STAGING_KAFKA_PASSWORD"
    ssl_cafile = "/etc/ssl/kafka-ca.pem"

Secrets never live in the file: it names the environment variables that hold them. With no
profile named (and no ``APILOG_PROFILE``) the built-in ``sandbox`` profile is used; its URLs and
secret are filled by ``console.sandbox`` when the console connects. ``APILOG_*`` variables
override the resolved profile, for scripts and CI.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import ApilogError

SANDBOX = "sandbox"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class ConfigError(ApilogError, ValueError):
    """The config file or a profile is wrong; the message names the file, line, key and fix."""


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/apilog/config.toml`` (``~/.config`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "apilog" / "config.toml"


def data_dir() -> Path:
    """Where the transaction log lives: ``APILOG_DATA_DIR`` or ``$XDG_DATA_HOME/apilog``."""
    explicit = os.environ.get("APILOG_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "apilog"


@functools.cache
def system_tls_context() -> ssl.SSLContext:
    """httpx2's own default context (the system's CAs), built once per process and shared.

    httpx2 builds it anew for every client it makes, loading the CA bundle each time: ~70 ms
    of CPU on this project's machine, paid by every call client, health poll and probe client.
    """
    # The HTTP stack's own choice of CA locations. Imported here: the config is read before the
    # console's first frame, and httpcore2 costs ~100 ms to import (python -X importtime).
    import httpcore2

    return httpcore2.default_ssl_context()


@dataclass(frozen=True)
class KafkaSecurity:
    """How to reach a secured Kafka cluster (SASL PLAIN/SCRAM and/or TLS)."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password_env: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    def __repr__(self) -> str:
        from console.redact import REDACTED  # see Profile.to_dict

        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if shown["password"]:
            shown["password"] = REDACTED
        return "KafkaSecurity(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


@dataclass(frozen=True)
class HttpTls:
    """How to reach an HTTPS gateway: the CA that issued its certificate, a client certificate
    for mutual TLS, and whether to verify at all (on unless the profile says ``verify = false``)."""

    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class Profile:
    """One environment the console can talk to. ``client_secret`` is resolved, never stored in a file."""

    name: str
    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    kafka_bootstrap: str | None = None
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    #: TLS towards the gateway and its token endpoint (``[profiles.NAME.tls]``).
    tls: HttpTls = field(default_factory=HttpTls)
    readonly: bool = False
    #: The built-in sandbox: gateway and broker are started on loopback by ``console.sandbox``.
    embedded: bool = False
    #: How many events the live feed keeps in memory (the oldest go first), however long it runs.
    event_buffer: int = 10_000

    def __repr__(self) -> str:
        shown = self.to_dict(masked=True)
        return "Profile(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def connected(self) -> bool:
        """True once the profile knows where the gateway and its token endpoint are."""
        return bool(self.base_url and self.token_url)

    def to_dict(self, *, masked: bool = True) -> dict[str, Any]:
        """Plain data for ``apilog config show``; secrets as ``REDACTED`` unless ``masked=False``."""
        # Here, not at the top: the console reads the config before its first frame, and
        # console.redact (json, html, its patterns) cost that ~5 ms of imports (python -X
        # importtime after Textual, min of 7); the session brings it in after the frame.
        from console.redact import REDACTED

        data = dataclasses.asdict(self)
        data["scopes"] = list(self.scopes)
        if masked:
            if data["client_secret"]:
                data["client_secret"] = REDACTED
            if data["kafka_security"]["password"]:
                data["kafka_security"]["password"] = REDACTED
        return data

    def with_sandbox(self, info: Any) -> Profile:
        """This profile filled from a running sandbox (``console.sandbox.SandboxInfo``)."""
        return dataclasses.replace(
            self,
            base_url=self.base_url or info.base_url,
            token_url=self.token_url or info.token_url,
            client_id=self.client_id or info.client_id,
            client_secret=self.client_secret or info.client_secret,
            kafka_bootstrap=self.kafka_bootstrap or info.kafka_bootstrap,
        )

    def http_verify(self) -> ssl.SSLContext | bool:
        """What httpx2's ``verify=`` gets for this profile's gateway and token endpoint.

        The system's CAs, or ``tls.ca_file``'s; a client certificate for mutual TLS; ``False``
        only when the profile says ``verify = false`` (front ends warn about it loudly).
        Raises :class:`ConfigError` naming the key when a file cannot be used.
        """
        tls = self.tls
        if not tls.verify:
            return False
        if not (tls.ca_file or tls.client_cert):
            return system_tls_context()
        where = f"[profiles.{self.name}.tls]"
        try:
            context = ssl.create_default_context(cafile=tls.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"profile {self.name!r}: ca_file {tls.ca_file!r} in {where} cannot "
                              f"be used ({_reason(exc)}): give a PEM file of CA certificates") from None
        if tls.client_cert:
            try:
                context.load_cert_chain(tls.client_cert, tls.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"profile {self.name!r}: client_cert {tls.client_cert!r} in "
                                  f"{where} cannot be used ({_reason(exc)}): give the PEM "
                                  "certificate and, in client_key, its private key") from None
        return context

    def kafka_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer/consumer/admin constructors."""
        if not self.kafka_bootstrap:
            raise ConfigError(f"profile {self.name!r} names no kafka_bootstrap: set it in the "
                              f"config file or APILOG_KAFKA_BOOTSTRAP")
        sec = self.kafka_security
        kwargs: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap,
                                  "security_protocol": sec.security_protocol}
        if sec.security_protocol.startswith("SASL"):
            if sec.password is None:
                hint = f"set {sec.password_env}" if sec.password_env else "set kafka.password_env"
                raise ConfigError(f"profile {self.name!r}: the Kafka SASL password is missing: {hint}")
            kwargs.update(sasl_mechanism=sec.sasl_mechanism or "PLAIN",
                          sasl_plain_username=sec.username, sasl_plain_password=sec.password)
        if sec.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            context = create_ssl_context(cafile=sec.ssl_cafile, certfile=sec.ssl_certfile,
                                         keyfile=sec.ssl_keyfile)
            context.check_hostname = sec.ssl_check_hostname
            kwargs["ssl_context"] = context
        return kwargs


SANDBOX_PROFILE = Profile(name=SANDBOX, embedded=True)


@dataclass(frozen=True)
class Config:
    """The parsed config file (or the empty default when there is none)."""

    path: Path
    profiles: dict[str, Profile]
    default_profile: str | None = None
    #: Extra header/field names whose values are secrets (redacted everywhere).
    redact_keys: tuple[str, ...] = ()
    exists: bool = False


_PROFILE_KEYS = {"base_url": str, "token_url": str, "client_id": str, "client_secret_env": str,
                 "scopes": list, "kafka_bootstrap": str, "readonly": bool, "kafka": dict,
                 "event_buffer": int, "tls": dict}
_TLS_KEYS = {"ca_file": str, "client_cert": str, "client_key": str, "verify": bool}
_KAFKA_KEYS = {"security_protocol": str, "sasl_mechanism": str, "username": str,
               "password_env": str, "ssl_cafile": str, "ssl_certfile": str, "ssl_keyfile": str,
               "ssl_check_hostname": bool}
_TOP_KEYS = {"default_profile": str, "redact_keys": list, "profiles": dict}


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config file; a missing file is an empty config, not an error.

    Raises :class:`ConfigError` naming the file, the line and the key.
    """
    path = Path(path) if path is not None else config_path()
    if not path.exists():
        return Config(path=path, profiles={})
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc} — fix the syntax at that line") from None
    locate = _Locator(path, text)
    for key, value in data.items():
        _check(locate, (), key, value, _TOP_KEYS)
    profiles: dict[str, Profile] = {}
    for name, raw in data.get("profiles", {}).items():
        if not isinstance(raw, dict):
            raise locate.error(("profiles",), name, "must be a table: [profiles." + name + "]")
        for key, value in raw.items():
            _check(locate, ("profiles", name), key, value, _PROFILE_KEYS)
        kafka_raw = raw.get("kafka", {})
        for key, value in kafka_raw.items():
            _check(locate, ("profiles", name, "kafka"), key, value, _KAFKA_KEYS)
        kafka = _kafka_security(locate, name, kafka_raw)
        tls = _http_tls(locate, name, raw.get("tls", {}))
        if name == SANDBOX and any(k in raw for k in ("base_url", "token_url")):
            embedded = False
        else:
            embedded = name == SANDBOX
        profiles[name] = Profile(
            name=name, base_url=raw.get("base_url"), token_url=raw.get("token_url"),
            client_id=raw.get("client_id"), client_secret_env=raw.get("client_secret_env"),
            scopes=tuple(raw.get("scopes", ())), kafka_bootstrap=raw.get("kafka_bootstrap"),
            kafka_security=kafka, tls=tls, readonly=bool(raw.get("readonly", False)),
            embedded=embedded,
            event_buffer=raw.get("event_buffer", 10_000))
    default = data.get("default_profile")
    if default is not None and default not in profiles and default != SANDBOX:
        raise locate.error((), "default_profile",
                           f"names {default!r}, which is not a profile: add [profiles.{default}]")
    return Config(path=path, profiles=profiles, default_profile=default,
                  redact_keys=tuple(data.get("redact_keys", ())), exists=True)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _http_tls(locate: _Locator, profile: str, raw: dict[str, Any]) -> HttpTls:
    section = ("profiles", profile, "tls")
    for key, value in raw.items():
        _check(locate, section, key, value, _TLS_KEYS)
    if raw.get("client_key") and not raw.get("client_cert"):
        raise locate.error(section, "client_key", "is set without client_cert: give both, or neither")
    return HttpTls(ca_file=raw.get("ca_file"), client_cert=raw.get("client_cert"),
                   client_key=raw.get("client_key"), verify=raw.get("verify", True))


def _kafka_security(locate: _Locator, profile: str, raw: dict[str, Any]) -> KafkaSecurity:
    section = ("profiles", profile, "kafka")
    protocol = raw.get("security_protocol", "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise locate.error(section, "security_protocol",
                           f"is {protocol!r}; use one of {', '.join(SECURITY_PROTOCOLS)}")
    mechanism = raw.get("sasl_mechanism")
    if mechanism is not None and mechanism.upper() not in SASL_MECHANISMS:
        raise locate.error(section, "sasl_mechanism",
                           f"is {mechanism!r}; use one of {', '.join(SASL_MECHANISMS)}")
    return KafkaSecurity(
        security_protocol=protocol, sasl_mechanism=mechanism.upper() if mechanism else None,
        username=raw.get("username"), password_env=raw.get("password_env"),
        ssl_cafile=raw.get("ssl_cafile"), ssl_certfile=raw.get("ssl_certfile"),
        ssl_keyfile=raw.get("ssl_keyfile"), ssl_check_hostname=raw.get("ssl_check_hostname", True))


def _check(locate: _Locator, section: tuple[str, ...], key: str, value: Any,
           allowed: Mapping[str, type]) -> None:
    if key not in allowed:
        raise locate.error(section, key, f"is not a known key; known keys: {', '.join(sorted(allowed))}")
    expected = allowed[key]
    wrong_type = not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    if wrong_type or (expected is list and not all(isinstance(v, str) for v in value)):
        kind = {str: "a string", bool: "true or false", list: "a list of strings", dict: "a table",
                int: "a whole number"}[expected]
        raise locate.error(section, key, f"must be {kind}, not {value!r}")
    if expected is int and not 100 <= value <= 10_000_000:
        raise locate.error(section, key, f"is {value}; use a number from 100 to 10000000")


class _Locator:
    """Finds the line of a key in the TOML text, so errors can point at it."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, section: tuple[str, ...], key: str) -> int | None:
        current: tuple[str, ...] = ()
        header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
        assign = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
        for number, line in enumerate(self.lines, start=1):
            found = header.match(line)
            if found:
                current = tuple(part.strip().strip('"') for part in found.group(1).split("."))
                if current == (*section, key):
                    return number
                continue
            if current == section and assign.match(line):
                return number
        return None

    def error(self, section: tuple[str, ...], key: str, problem: str) -> ConfigError:
        line = self.line_of(section, key)
        dotted = ".".join((*section, key))
        where = f"{self.path}, line {line}" if line else str(self.path)
        return ConfigError(f"{where}: key {dotted!r} {problem}")


_ENV_FIELDS = {"APILOG_BASE_URL": "base_url", "APILOG_TOKEN_URL": "token_url",
               "APILOG_CLIENT_ID": "client_id", "APILOG_KAFKA_BOOTSTRAP": "kafka_bootstrap"}


def resolve_profile(name: str | None = None, *, catalogue: Any = None,
                    config: Config | None = None) -> Profile:
    """The profile to use: ``name``, else ``APILOG_PROFILE``, else the file's default, else sandbox.

    Secrets are read from the environment variables the profile names, then ``APILOG_*``
    overrides apply. A sandbox given ``APILOG_BASE_URL`` talks to that gateway instead of
    starting one. When the profile names no scopes and ``catalogue`` is given, it asks for every
    scope the catalogue's operations need (a real token server may grant nothing by default).
    """
    config = config if config is not None else load_config()
    chosen = name or os.environ.get("APILOG_PROFILE") or config.default_profile or SANDBOX
    if chosen in config.profiles:
        profile = config.profiles[chosen]
    elif chosen == SANDBOX:
        profile = SANDBOX_PROFILE
    else:
        known = ", ".join(sorted({SANDBOX, *config.profiles}))
        raise ConfigError(f"profile {chosen!r} is not in {config.path}; known profiles: {known}")
    changes: dict[str, Any] = {}
    if profile.client_secret_env:
        changes["client_secret"] = os.environ.get(profile.client_secret_env)
    if profile.kafka_security.password_env:
        password = os.environ.get(profile.kafka_security.password_env)
        changes["kafka_security"] = dataclasses.replace(profile.kafka_security, password=password)
    for env, attr in _ENV_FIELDS.items():
        if os.environ.get(env):
            changes[attr] = os.environ[env]
    if os.environ.get("APILOG_CLIENT_SECRET"):
        changes["client_secret"] = os.environ["APILOG_CLIENT_SECRET"]
    if profile.embedded and changes.get("base_url"):
        changes["embedded"] = False
    if not profile.scopes and catalogue is not None:
        changes["scopes"] = tuple(sorted({op.scope for op in catalogue.operations}))
    return dataclasses.replace(profile, **changes)
