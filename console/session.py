"""The one application service every front end opens: the CLI, the console and the checks.

A :class:`Session` owns, for one profile, everything a front end would otherwise build itself:
the config, the catalogue, the transaction log (with the config's ``redact_keys``), the caller,
event feeds, the sandbox's lifetime, and every policy — read-only, writes during checks,
redaction, the client-side rate budget. A rule enforced here is enforced for every front end,
the way httpx puts every rule in the one ``Client`` each request goes through::

    async with open_session("staging", origin="cli") as session:
        result = await session.call(CallRequest("/customer/update", "GET", "check-status"))

Front ends parse input, call the session and render what comes back; a test keeps them from
building a ``TransactionLog``, a ``Caller`` or an ``EventFeed`` themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx2

from console.caller import Caller, CallRequest, CallResult, RateBudget, connect_profile
from console.catalogue import Catalogue, load_catalogue
from console.catalogue.vocabulary import may_change_state
from console.config import Config, ConfigError, Profile, load_config, resolve_profile
from console.conformance.runner import ProgressCallback, Runner
from console.conformance.shard import ChildShard, ShardRequest, ShardSettings
from console.conformance.verdict import Verdict
from console.errors import ApilogError
from console.events.feed import EventFeed
from console.policy import READ_ONLY, WRITES_NOT_ALLOWED, PolicyRefused, WritePolicy
from console.sandbox import Sandbox
from console.txlog import TransactionLog, default_log_path, open_log
from console.txlog.schema import Origin

#: How long a started feed may take to connect before a check runs without waiting longer.
FEED_CONNECT_S = 15.0
#: The retry backoff base during checks: small, so that retry checks stay quick.
CHECK_RETRY_BASE_S = 0.05
#: Operations a check has under way at once against a gateway (``apilog check --concurrency``).
CHECK_CONCURRENCY = 6
#: The same against the embedded sandbox, the operator's own gateway: over two processes 12
#: took 12.8 and 13.7 s (medians of two rounds) where 6 in one process took 15.3 and 15.6 s
#: (docs/benchmarks.md, Two checking processes).
SANDBOX_CONCURRENCY = 12
#: The scope that reads the gateway's own log (docs/contracts.md, Fixed names).
GATEWAY_ADMIN_SCOPE = "gateway:admin"




class Session:
    """One profile's connections and policies; an async context manager.

    ``profile=None`` opens the transaction log alone (reading a log with no gateway).
    ``readonly`` adds to the profile's own ``readonly``. ``origin`` names the front end in the
    log. ``own_sandbox`` starts the embedded sandbox as this session's child, stopped at exit
    (the console); otherwise a running sandbox is reused or one is started detached (the CLI,
    so the next command finds it). ``caller_options`` go to ``Caller`` (a ``transport`` in tests).
    """

    def __init__(
        self,
        profile: Profile | None,
        catalogue: Catalogue,
        *,
        config: Config | None = None,
        readonly: bool = False,
        origin: Origin = "cli",
        log_path: Path | None = None,
        catalogue_path: str | None = None,
        own_sandbox: bool = False,
        caller_options: dict[str, Any] | None = None,
    ) -> None:
        self.profile = profile
        self.catalogue = catalogue
        self.config = config if config is not None else load_config()
        self.readonly = readonly or bool(profile is not None and profile.readonly)
        self.origin = origin
        self.log_path = log_path if log_path is not None else default_log_path()
        self.catalogue_path = catalogue_path
        self.own_sandbox = own_sandbox
        self.caller_options = dict(caller_options or {})
        #: One client-side rate budget for every call this session makes, the console's and the
        #: checks' alike: together they never send more than an operation's limit in a window.
        self.caller_options.setdefault("rate_budget", RateBudget())
        #: Lines a front end must show the operator once the session is open (verification off).
        self.warnings: list[str] = []
        self._stack = AsyncExitStack()
        self._txlog: TransactionLog | None = None
        self._caller: Caller | None = None
        #: The feed a front end opened from the latest offset, linked to the log (the console's):
        #: a check reads it rather than a second consumer decoding and linking the same events.
        self._live_feed: EventFeed | None = None
        #: What the operator should know about how the last check went (a second process failed).
        self.check_notes: list[str] = []

    # -- opening and closing --------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        try:
            await self.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect: the sandbox if the profile is the embedded one, the log, then the caller.

        Blocking steps (starting processes, opening SQLite) run in threads, so the console's
        loop keeps painting.
        """
        self._txlog = await asyncio.to_thread(self._open_log)
        self._stack.callback(self._txlog.close)
        if self.profile is None:
            return
        self.profile = await asyncio.to_thread(self._connect_profile)
        if not self.profile.tls.verify:
            self.warnings.append(
                f"TLS certificates are NOT verified for profile {self.profile.name!r} "
                f"([profiles.{self.profile.name}.tls] verify = false): anyone between here and "
                f"{self.profile.base_url} can read and change these calls, tokens included")
        self._caller = Caller(self.profile, self.catalogue, self._txlog, origin=self.origin,
                              **self.caller_options)
        await self._stack.enter_async_context(self._caller)

    async def close(self) -> None:
        """Stop what this session opened, newest first; each step on its own."""
        stack, self._stack = self._stack, AsyncExitStack()
        await stack.aclose()
        self._caller = None
        self._txlog = None
        self._live_feed = None

    def _open_log(self) -> TransactionLog:
        return open_log(self.log_path, redact_keys=self.config.redact_keys)

    def _connect_profile(self) -> Profile:
        profile = self.profile
        assert profile is not None
        if not profile.embedded or profile.connected:
            return profile
        if not self.own_sandbox:
            return connect_profile(profile, catalogue=self.catalogue_path)
        sandbox = Sandbox(catalogue=self.catalogue_path)
        info = sandbox.__enter__()
        self._stack.callback(sandbox.__exit__, None, None, None)
        return profile.with_sandbox(info)

    # -- what front ends read -------------------------------------------------------------------

    @property
    def txlog(self) -> TransactionLog:
        if self._txlog is None:
            raise SessionClosed("the session is not open: use 'async with session:'")
        return self._txlog

    @property
    def caller(self) -> Caller:
        if self._caller is None:
            raise SessionClosed("the session has no gateway: open it with a profile")
        return self._caller

    @property
    def is_open(self) -> bool:
        """The log is open (a session with no profile is open with the log alone)."""
        return self._txlog is not None

    @property
    def connected(self) -> bool:
        """The caller is open: calls can be sent."""
        return self._caller is not None

    @property
    def base_url(self) -> str | None:
        return self.profile.base_url if self.profile is not None else None

    @property
    def profile_name(self) -> str:
        return self.profile.name if self.profile is not None else "log only"

    # -- policies -------------------------------------------------------------------------------

    def refusal(self, method: str, path: str, action: str) -> str | None:
        """The one line that refuses ``method path?action=…`` under read-only, or None."""
        if not self.readonly or not may_change_state(method, action):
            return None
        return (f"profile {self.profile_name!r} is read-only: {method.upper()} {path}"
                f"?action={action} may change state; use a profile without readonly = true")

    def check_allowed(self, method: str, path: str, action: str) -> None:
        """Raise :class:`PolicyRefused` when the read-only policy refuses this call."""
        message = self.refusal(method, path, action)
        if message is not None:
            raise PolicyRefused(message, READ_ONLY)

    def write_policy(self, allow_writes: bool = False) -> WritePolicy:
        """What a conformance run may send: state-changing probes only against the embedded
        sandbox or with ``allow_writes``, never on a read-only profile."""
        if self.readonly:
            if allow_writes:
                raise PolicyRefused(f"profile {self.profile_name!r} is read-only: --allow-writes "
                                    "is refused; use a profile without readonly = true",
                                    READ_ONLY)
            return WritePolicy(False, READ_ONLY)
        embedded = bool(self.profile is not None and self.profile.embedded)
        if allow_writes or embedded:
            return WritePolicy(True)
        return WritePolicy(False, WRITES_NOT_ALLOWED)

    # -- calls ----------------------------------------------------------------------------------

    async def call(self, request: CallRequest) -> CallResult:
        """Send ``request`` through the caller (log, retries, budget) unless a policy refuses."""
        self.check_allowed(request.method, request.path, request.action)
        return await self.caller.call(request)

    async def rerun(self, tx_id: str) -> CallResult:
        """Send a logged call again, as it was (a fresh Idempotency-Key: a new call)."""
        tx = await self.txlog.run(self.txlog.get, tx_id)
        if tx is None:
            raise SessionError(f"transaction {tx_id} is not in the log {self.log_path}")
        return await self.call(CallRequest.from_transaction(tx))

    async def gateway_log(self, request_id: str) -> dict[str, Any]:
        """The gateway's own log record of one request (``GET /admin/log/{request_id}``).

        Asks the token endpoint for ``gateway:admin`` on its own (the caller's token keeps its
        scopes); raises :class:`SessionError` with one line when the profile may not read the
        log (401/403) or the gateway has no record of that request (404).
        """
        profile = self.profile
        if profile is None or not profile.connected:
            raise SessionClosed("the gateway's log needs a gateway: open the session with a profile")
        async with httpx2.AsyncClient(timeout=10.0, verify=profile.http_verify()) as http:
            token = await http.post(profile.token_url or "", auth=(profile.client_id or "",
                                                                   profile.client_secret or ""),
                                    data={"grant_type": "client_credentials",
                                          "scope": GATEWAY_ADMIN_SCOPE})
            if token.status_code != 200:
                raise SessionError(f"profile {profile.name!r} may not read the gateway's log: the "
                                   f"token endpoint refused scope {GATEWAY_ADMIN_SCOPE} "
                                   f"({token.status_code}); ask for that scope for client "
                                   f"{profile.client_id!r}")
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            answer = await http.get(f"{profile.base_url}/admin/log/{request_id}", headers=bearer)
        if answer.status_code in (401, 403):
            raise SessionError(f"profile {profile.name!r} may not read the gateway's log "
                               f"({answer.status_code}): it needs scope {GATEWAY_ADMIN_SCOPE}")
        if answer.status_code == 404:
            raise SessionError(f"the gateway has no log record of request {request_id} (it keeps "
                               "the newest ones in memory; its access log file keeps them all)")
        if answer.status_code != 200:
            raise SessionError(f"the gateway's log answered {answer.status_code} for {request_id}")
        record: dict[str, Any] = answer.json()
        return record

    def curl(self, tx: Any) -> str:
        """The call as a curl command line, the token as ``$TOKEN``."""
        return self.caller.to_curl(tx)

    # -- events ---------------------------------------------------------------------------------

    async def open_feed(self, *, start: Any = "latest", link: bool = True,
                        wait_connected_s: float = 0.0, **options: Any) -> EventFeed | None:
        """A started event feed on the profile's Kafka (None when it names none), stopped when
        the session closes. ``link`` correlates events with this log's transactions; other
        ``options`` go to :class:`EventFeed` (callbacks, buffer size)."""
        feed = await self._start_feed(start, link, wait_connected_s, options)
        if feed is not None:
            self._stack.push_async_callback(_stop_feed, feed)
            if link and start == "latest" and self._live_feed is None:
                self._live_feed = feed
        return feed

    async def _start_feed(self, start: Any, link: bool, wait_connected_s: float,
                          options: dict[str, Any]) -> EventFeed | None:
        profile = self.profile
        if profile is None or not profile.kafka_bootstrap:
            return None
        kwargs = profile.kafka_client_kwargs()
        kwargs.pop("bootstrap_servers", None)
        feed = EventFeed(profile.kafka_bootstrap, start=start, kafka_kwargs=kwargs,
                         txlog=self.txlog if link else None, **options)
        await feed.start()
        deadline = time.monotonic() + wait_connected_s
        while feed.status.state != "connected" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return feed

    def event_feed(self, *, bootstrap: str | None = None, link: bool = True,
                   **options: Any) -> EventFeed:
        """A feed (not started) for reading Kafka without calling a gateway (``apilog events``).

        The profile's cluster and SASL/SSL settings, or ``bootstrap`` (then with the profile's
        security settings when it has a cluster of its own, else plain). The embedded profile
        reads a sandbox that already runs and never starts one. With ``link``, events are tied to
        the operator's transaction log when it exists (it is never created here); the log closes
        with the session. Raises :class:`SessionError` naming the fix when there is no cluster.
        """
        profile = self.profile
        if profile is not None and not bootstrap and not profile.kafka_bootstrap and profile.embedded:
            info = Sandbox(catalogue=self.catalogue_path).status()
            profile = profile if info is None else profile.with_sandbox(info)
        kwargs: dict[str, Any] = {}
        if profile is not None and profile.kafka_bootstrap:
            kwargs = profile.kafka_client_kwargs()
            kwargs.pop("bootstrap_servers", None)
        servers = bootstrap or (profile.kafka_bootstrap if profile is not None else None)
        if not servers:
            name = profile.name if profile is not None else "(none)"
            raise SessionError(f"profile {name!r} names no Kafka cluster: give --bootstrap "
                               "HOST:PORT, set kafka_bootstrap in the profile or "
                               "APILOG_KAFKA_BOOTSTRAP, or start the sandbox (apilog sandbox start)")
        txlog = None
        if link and self.log_path.exists():
            try:
                txlog = open_log(self.log_path, redact_keys=self.config.redact_keys,
                                 mark_interrupted=False)
                self._stack.callback(txlog.close)
            except ApilogError as exc:  # linking is a bonus: reading the feed goes on
                self.warnings.append(f"not linking to the transaction log: {exc}")
        return EventFeed(servers, kafka_kwargs=kwargs, txlog=txlog, **options)

    # -- conformance ----------------------------------------------------------------------------

    async def check(
        self,
        *,
        operations: Iterable[tuple[str, str, str]] | None = None,
        contracts: Iterable[str] | None = None,
        allow_writes: bool = False,
        allow_load: bool | None = None,
        thorough: bool = False,
        faults_enabled: bool | None = None,
        on_progress: ProgressCallback | None = None,
        concurrency: int | None = None,
        event_deadline_s: float | None = None,
        http: Any = None,
        processes: int = 2,
    ) -> list[Verdict]:
        """Check every contract of the chosen operations; one verdict per (operation, contract).

        Probes that may change state run only as :meth:`write_policy` allows; the rest are
        ``skipped`` with the reason. Raises :class:`PolicyRefused` for ``allow_writes`` on a
        read-only profile and ValueError for an unknown operation or contract.

        ``concurrency`` is how many operations are checked at once, in all: by default
        :data:`SANDBOX_CONCURRENCY` against the embedded sandbox (the operator's own gateway on
        this machine) and :data:`CHECK_CONCURRENCY` against any other, which deserves the
        gentler load. With ``processes=2`` a large run hands about half of its operations to a
        second process (``console.conformance.shard``) with half of ``concurrency``: one
        interpreter uses one core, and the checking process was CPU-bound on its HTTP client.
        What went wrong with it is in :attr:`check_notes`.
        """
        self.check_notes = []
        writes = self.write_policy(allow_writes)
        if self.profile is None or self._txlog is None:
            raise SessionClosed("a check needs a gateway: open the session with a profile")
        if concurrency is None:
            concurrency = SANDBOX_CONCURRENCY if self.profile.embedded else CHECK_CONCURRENCY
        shard = None
        if processes > 1 and http is None:
            shard = self._shard(writes, allow_load, thorough, event_deadline_s)
        runner = Runner(self.profile, self.catalogue, caller=None, writes=writes,
                        allow_load=allow_load, faults_enabled=faults_enabled, thorough=thorough,
                        operations=operations, contracts=contracts, on_progress=on_progress,
                        concurrency=concurrency, event_deadline_s=event_deadline_s, http=http,
                        shard=shard)
        try:
            return await self.run_checks(runner)
        finally:
            self.check_notes = list(runner.notes)

    def _shard(self, writes: WritePolicy, allow_load: bool | None, thorough: bool,
               event_deadline_s: float | None) -> Any:
        """How this session hands checks to a second process, or None when it cannot: the
        caller's options are this process's own (a test's transport)."""
        options = {k: v for k, v in self.caller_options.items() if k != "rate_budget"}
        if options:
            return None
        assert self.profile is not None
        return ChildShard(ShardSettings(
            profile=self.profile, catalogue=self.catalogue, config=self.config,
            log_path=self.log_path, catalogue_path=self.catalogue_path, writes=writes,
            allow_load=allow_load, thorough=thorough, event_deadline_s=event_deadline_s))

    @staticmethod
    async def decide_shard(request: ShardRequest, on_result: Callable[[int, Verdict], None]) -> None:
        """In ``apilog check``'s second process: open a session like the parent's and decide
        the checks of ``request``, each verdict to ``on_result(index, verdict)``."""
        s = request.settings
        session = Session(s.profile, s.catalogue, config=s.config, origin="check",
                          log_path=s.log_path, catalogue_path=s.catalogue_path)
        async with session:
            runner = Runner(s.profile, s.catalogue, caller=None, writes=s.writes,
                            allow_load=s.allow_load, faults_enabled=request.faults_enabled,
                            thorough=s.thorough, concurrency=request.lanes,
                            event_deadline_s=s.event_deadline_s, plan=request.items,
                            reserved=request.reserved, on_result=on_result)
            # The parent's feed reads every event too, and links each to its call in the log
            # they share: linking them here as well would write the same links twice.
            await session.run_checks(runner, link=False)

    async def run_checks(self, runner: Runner, link: bool = True) -> list[Verdict]:
        """Run ``runner`` with this session's caller for checks and a feed for its events;
        ``link=False`` leaves linking the events to their calls to another process's feed."""
        assert self.profile is not None and self._txlog is not None
        # The probes' own caller: recorded as made by the check, with a small retry backoff so
        # that retry checks stay quick; the same log, policies and redaction as every call.
        options = {**self.caller_options, "retry_base_s": CHECK_RETRY_BASE_S}
        async with AsyncExitStack() as stack:
            runner.caller = await stack.enter_async_context(
                Caller(self.profile, self.catalogue, self._txlog, origin="check", **options))
            live = self._live_feed
            if live is not None and live.status.state == "connected":
                # The console's own feed: with a second consumer decoding and linking every
                # event again, the console's :check took 1.25-1.38x the CLI's CPU; 1.01-1.10x now
                # (bench/bench_check_console.py).
                runner.feed = live
            else:
                runner.feed = await self._start_feed("latest", link, FEED_CONNECT_S, {})
                if runner.feed is not None:
                    stack.push_async_callback(_stop_feed, runner.feed)
            return await runner.run()


class SessionError(ApilogError):
    """A session request that cannot be served (unknown transaction, …); the message says why."""


class SessionClosed(SessionError):
    """The session was used before it was opened, or without the part asked for."""


def operator_log(**options: Any) -> TransactionLog:
    """The operator's log alone, with the config's ``redact_keys``, for commands that only read,
    export or prune it (``apilog log``, ``apilog events``). A config file that cannot be read
    does not keep the operator from reading the log. ``options`` go to ``TransactionLog``."""
    try:
        keys = load_config().redact_keys
    except ConfigError:
        keys = ()
    return open_log(default_log_path(), redact_keys=keys, **options)


def open_session(
    profile_name: str | None = None,
    *,
    catalogue_path: str | None = None,
    readonly: bool = False,
    origin: Origin = "cli",
    own_sandbox: bool = False,
    log_only: bool = False,
    caller_options: dict[str, Any] | None = None,
) -> Session:
    """A session for ``profile_name`` (else ``APILOG_PROFILE``, the file's default, the sandbox).

    Reads the catalogue and the config now, so bad input fails before anything connects:
    raises ``CatalogueError`` or ``ConfigError`` with the file, the line and the fix.
    """
    catalogue = load_catalogue(catalogue_path)
    config = load_config()
    profile = None if log_only else resolve_profile(profile_name, catalogue=catalogue, config=config)
    return Session(profile, catalogue, config=config, readonly=readonly, origin=origin,
                   catalogue_path=catalogue_path, own_sandbox=own_sandbox,
                   caller_options=caller_options)


async def _stop_feed(feed: EventFeed) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(feed.stop(), 5)

