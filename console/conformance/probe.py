"""How checks talk to a gateway: calls through the console's caller, raw probes, the admin log.

Probe calls go through ``console.caller`` so that they land in the transaction log with their
attempts; the probes a well-behaved caller refuses to make (no token, a forged token, hostile
XML, a burst past the rate limit) go out raw (``console.conformance.wire``, or httpx2 through
a proxy), each with its own ``X-Request-Id`` so the evidence can still point at the gateway's
log record.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from console.caller.client import explain
from console.catalogue import Catalogue, Operation
from console.catalogue.vocabulary import NON_IDEMPOTENT_METHODS, QUERY_METHODS
from console.conformance.checks.common import unwrap
from console.conformance.evidence import CheckFailed, CheckSkipped
from console.errors import ApilogError
from console.policy import WRITES_ALLOWED, WritePolicy

#: How long the gateway may take to make a log record fetchable after answering.
LOG_GRACE_S = 3.0
#: How long a check waits for a call's Kafka event.
EVENT_DEADLINE_S = 10.0
#: How long a rollback check watches the feed for an event that must not come.
QUIET_S = 1.5


class GatewayUnreachable(ApilogError, RuntimeError):
    """The gateway or its token endpoint did not answer; the message names the URL and the fix."""


def new_request_id() -> str:
    return f"check-{uuid.uuid4()}"


class Probe:
    """Everything a check needs: the caller, a raw HTTP client, tokens, the admin log, the feed."""

    def __init__(self, profile: Any, catalogue: Catalogue, *, caller: Any, feed: Any, http: Any,
                 allow_load: bool, faults_enabled: bool, thorough: bool,
                 writes: WritePolicy = WRITES_ALLOWED, wire: Any = None) -> None:
        self.profile = profile
        self.writes = writes
        self.catalogue = catalogue
        self.caller = caller
        self.feed = feed
        self.http = http
        #: What raw requests and admin-log reads go out on: the lean client when there is one.
        self.wire = wire or http
        self.allow_load = allow_load
        self.faults_enabled = faults_enabled
        self.thorough = thorough
        self.base_url = str(profile.base_url).rstrip("/")
        self._tokens: dict[str, str] = {}
        self._token_lock = asyncio.Lock()
        self._shared: dict[str, Any] = {}
        #: How long a kafka-event check waits for the call's event.
        self.event_deadline_s = EVENT_DEADLINE_S

    @classmethod
    @asynccontextmanager
    async def open(cls, profile: Any, catalogue: Catalogue, *, caller: Any, feed: Any = None,
                   allow_load: bool = False, faults_enabled: bool | None = None,
                   thorough: bool = False, http: Any = None,
                   writes: WritePolicy = WRITES_ALLOWED) -> AsyncIterator[Probe]:
        """A probe with its own httpx2 client (unless ``http`` is given); faults detected if None."""
        import httpx2

        own = http is None
        # The pool checks every idle connection's socket on each request: after a rate-limit
        # burst (32 at once) the default 20 idle ones made every later probe dearer (httpx2,
        # 1.70 ms of CPU per GET with 32 idle against 1.17 ms with 8; the checking process
        # 10.0-10.1 s against 10.2-10.9 s of CPU in two alternating pairs of apilog check).
        # Its connections ride asyncio's transports (console.http_transport): a fifth less CPU
        # per request for a process that is CPU-bound on its HTTP client.
        # The raw probes, half of a run's requests, go out on console.conformance.wire: h11 on
        # the same asyncio streams without httpx2's layers above them, under half the CPU.
        wire = None
        if http is None:
            from console.conformance.wire import for_url
            from console.http_transport import on_asyncio

            http = on_asyncio(httpx2.AsyncClient(
                timeout=httpx2.Timeout(30.0), verify=profile.http_verify(),
                limits=httpx2.Limits(max_connections=64, max_keepalive_connections=8)))
            wire = for_url(str(profile.base_url), http, verify=profile.http_verify(), timeout=30.0)
        client = http
        try:
            probe = cls(profile, catalogue, caller=caller, feed=feed, http=client,
                        allow_load=allow_load, faults_enabled=bool(faults_enabled), thorough=thorough,
                        writes=writes, wire=wire)
            try:
                await probe.token(catalogue.operations[0].scope)
                if faults_enabled is None:
                    probe.faults_enabled = await probe.detect_faults()
            except httpx2.HTTPError as exc:
                raise GatewayUnreachable(
                    f"the gateway at {probe.base_url} did not answer ({explain(exc, profile)}); "
                    "start it (apilog sandbox start) or check the profile's base_url") from None
            yield probe
        finally:
            if wire is not None:
                await wire.aclose()
            if own:
                await client.aclose()

    # --- URLs, tokens, raw requests -------------------------------------------------------------

    def url(self, path: str, version: str | None = None) -> str:
        prefix = f"/{version}" if version else ""
        return f"{self.base_url}{prefix}{path}"

    async def token(self, scope: str | None) -> str:
        """A client-credentials access token for ``scope`` (None: every allowed scope), cached."""
        key = scope or "*"
        async with self._token_lock:
            if key not in self._tokens:
                form = {"grant_type": "client_credentials"}
                if scope:
                    form["scope"] = scope
                response = await self.http.post(self.profile.token_url, data=form,
                                                auth=(self.profile.client_id, self.profile.client_secret))
                if response.status_code != 200:
                    raise GatewayUnreachable(
                        f"the token endpoint {self.profile.token_url} refused scope {key!r} with "
                        f"{response.status_code}: {response.text[:200]}; check the profile's "
                        "client id, secret and scopes")
                self._tokens[key] = response.json()["access_token"]
            return self._tokens[key]

    async def raw(self, op: Operation, *, method: str | None = None, version: str | None = None,
                  scope: str | None = "operation", token: str | None = None,
                  headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
                  content: bytes | None = None, action: str | None = "operation") -> Any:
        """One request outside the caller. ``scope=None`` and no ``token`` sends no Authorization.

        ``scope="operation"`` uses the operation's own scope; ``action=None`` leaves it out.
        """
        self.guard(method or op.method, op.action if action == "operation" else action)
        sent = {"X-Request-Id": new_request_id()}
        if (method or op.method) in NON_IDEMPOTENT_METHODS:
            sent["Idempotency-Key"] = f'"{uuid.uuid4()}"'
        sent.update(headers or {})
        if token is None and scope is not None:
            token = await self.token(op.scope if scope == "operation" else scope)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        query: dict[str, Any] = {}
        if action is not None:
            query["action"] = op.action if action == "operation" else action
        query.update(params or {})
        return await self.wire.request(method or op.method, self.url(op.path, version),
                                       params=query, headers=sent, content=content)

    def guard(self, method: str, action: str | None) -> None:
        """Skip the check rather than send a request the run's write policy refuses."""
        reason = self.writes.refusal(method, action)
        if reason:
            raise CheckSkipped(f"{reason}: the check needs {method} {action or '(no action)'}, "
                               "which may change state")

    async def send(self, op: Operation, body: dict[str, Any] | None, *,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """A raw request carrying ``body`` as the caller would: query fields for GET and DELETE,
        else a JSON body."""
        if body is None:
            return await self.raw(op, headers=headers, **kwargs)
        if op.method in QUERY_METHODS:
            params = {**body, **(kwargs.pop("params", None) or {})}
            return await self.raw(op, headers=headers, params=params, **kwargs)
        sent = {"Content-Type": "application/json", **(headers or {})}
        return await self.raw(op, headers=sent, content=json.dumps(body).encode(), **kwargs)

    async def admin_log(self, request_id: str) -> dict[str, Any] | None:
        """The gateway's log record for ``request_id`` (waits briefly for it to be written).

        Skips the check when this client may not read the log (no ``gateway:admin`` scope).
        """
        try:
            token = await self.token("gateway:admin")
        except GatewayUnreachable as exc:
            raise CheckSkipped(f"cannot read the gateway's log: {exc}") from None
        deadline = time.monotonic() + LOG_GRACE_S
        while True:
            response = await self.wire.get(f"{self.base_url}/admin/log/{request_id}",
                                           headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 200:
                return response.json()
            if response.status_code != 404 or time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)

    # --- calls through the caller ---------------------------------------------------------------

    async def call(self, op: Operation, **fields: Any) -> Any:
        """One call through ``console.caller`` (recorded in the transaction log)."""
        from console.caller.model import CallRequest

        self.guard(op.method, op.action)
        fields.setdefault("body", self.body_for(op))
        return await self.caller.call(CallRequest(op.path, op.method, op.action, **fields))

    def body_for(self, op: Operation, record_id: str | None = None) -> dict[str, Any] | None:
        """A payload that makes ``op`` succeed: a fresh record, a config key, a page, a record id."""
        if op.action == "add-record":
            return {"id": record_id or f"chk-{uuid.uuid4().hex[:12]}", "name": "conformance probe",
                    "source": "apilog check"}
        if op.action == "update-config":
            return {f"chk-{uuid.uuid4().hex[:8]}": "conformance probe"}
        if op.action == "export-data":
            return {"limit": 5}
        if op.action in ("delete-info", "check-status") and record_id:
            return {"id": record_id}
        return None

    async def prepare(self, op: Operation) -> dict[str, Any]:
        """Call fields that make ``op`` succeed: delete-info gets a record of its own to delete."""
        if op.action == "delete-info":
            return {"body": self.body_for(op, await self.new_record(op.path))}
        return {"body": self.body_for(op)}

    async def comparable(self, op: Operation) -> dict[str, Any]:
        """Call fields whose answer can be compared across calls: a status check reads one fresh
        record (the domain's counts move under concurrent checks); others as :meth:`prepare`."""
        if op.action == "check-status":
            return {"body": {"id": await self.new_record(op.path)}}
        return await self.prepare(op)

    async def new_record(self, path: str, record_id: str | None = None) -> str:
        """Create a record on ``path`` through one of its add-record operations; its id."""
        helper = self.helper(path, "add-record")
        body = self.body_for(helper, record_id)
        assert body is not None
        result = await self.call(helper, body=body)
        if result.status != 201:
            raise CheckFailed(f"could not create a record with {helper.label()}: status {result.status}")
        return str(body["id"])

    async def record_exists(self, path: str, record_id: str) -> bool:
        """Whether ``path``'s domain holds ``record_id`` (check-status through the caller)."""
        helper = self.helper(path, "check-status")
        result = await self.call(helper, body={"id": record_id})
        if result.status not in (200, 404):
            raise CheckFailed(f"{helper.label()} answered {result.status} asking for {record_id!r}")
        return result.status == 200

    def can_count(self, path: str) -> bool:
        """Whether ``path`` has an export-data operation to count records with."""
        return any(op.path == path and op.action == "export-data" for op in self.catalogue.operations)

    async def count_marked(self, path: str, marker: str) -> int:
        """How many of ``path``'s records carry ``marker`` (export-data, every page)."""
        helper = self.helper(path, "export-data")
        cursor: str | None = None
        found = 0
        for _page in range(1000):
            body: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            result = await self.call(helper, body=body)
            if result.status != 200:
                raise CheckFailed(f"{helper.label()} answered {result.status} while counting records")
            page = unwrap(json.loads(result.response_body))
            found += sum(1 for item in page.get("items", [])
                         if (item.get("fields") or {}).get("marker") == marker)
            cursor = page.get("next_cursor")
            if not cursor:
                return found
        raise CheckFailed(f"{helper.label()} never reached the last page")

    async def config_of(self, path: str) -> dict[str, Any]:
        """``path``'s configuration map (an update-config that merges nothing)."""
        helper = self.helper(path, "update-config")
        result = await self.call(helper, body={})
        if result.status != 200:
            raise CheckFailed(f"{helper.label()} with an empty merge answered {result.status}")
        return dict(unwrap(json.loads(result.response_body)).get("config", {}))

    def helper(self, path: str, action: str) -> Operation:
        """The plainest operation on ``path`` with ``action``: one whose quota is not about to be
        exhausted and unlimited if possible, then the fewest contracts."""
        reserved = self._shared.setdefault("reserved", set())
        candidates = [op for op in self.catalogue.operations if op.path == path and op.action == action]
        if not candidates:
            raise CheckSkipped(f"the catalogue has no {action} operation on {path} to prepare "
                               "or read back the data this check needs")
        return min(candidates, key=lambda op: (op.key in reserved, op.has("rate-limit"),
                                               len(op.contracts), op.method))

    def reserve(self, op: Operation) -> None:
        """Keep helpers off ``op`` (its quota is about to be exhausted)."""
        self._shared.setdefault("reserved", set()).add(op.key)

    @property
    def reserved(self) -> set[tuple[str, str, str]]:
        """The operations helpers keep off (their quotas are about to be exhausted)."""
        return set(self._shared.get("reserved", ()))

    async def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``await make()`` the first time ``key`` is asked for; the same value afterwards."""
        if key not in self._shared:
            self._shared[key] = await make()
        return self._shared[key]

    # --- events ---------------------------------------------------------------------------------

    async def wait_event(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        """The first feed event (already seen or arriving within ``timeout``) matching, or None."""
        if self.feed is None:
            return None
        return await self.feed.wait_for(predicate, timeout)

    # --- faults ---------------------------------------------------------------------------------

    async def detect_faults(self) -> bool:
        """Whether the gateway honours ``X-Fault-Abort`` (ignored when faults are off)."""
        # The abort comes before the action runs, so any operation will do; a safe read is
        # plainest, and the only kind a run that may not write can send.
        # A read, and one without a rate limit first: a quota that an earlier run spent
        # answers 429 before the fault is looked at, which is no answer to the question.
        allowed = sorted((o for o in self.catalogue.operations
                          if self.writes.refusal(o.method, o.action) is None),
                         key=lambda o: (not o.is_safe, o.has("rate-limit"),
                                        o.action not in ("check-status", "export-data"),
                                        len(o.contracts)))
        for op in allowed[:3]:
            response = await self.raw(op, headers={"X-Fault-Abort": "599"})
            if response.status_code != 429:
                return response.status_code == 599
        return False
