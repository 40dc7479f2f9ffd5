"""Serving one catalogued operation, contract by contract.

The order is the order a request meets the gateway's promises: route → format → OAuth2 scope →
rate limit → injected faults → body → Idempotency-Key → the action and its outbox row in one
transaction, under the latency deadline → the REST status, version shape and headers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote_plus

from starlette.requests import ClientDisconnect
from starlette.responses import Response

from console.catalogue.vocabulary import QUERY_METHODS, WRITE_ACTIONS
from console.gateway import faults as fault_headers
from console.gateway.domains import (
    ActionResult,
    DeadlineExceeded,
    DomainStore,
    InjectedFault,
    Intent,
    RolledBack,
)
from console.gateway.idempotency import (
    IDEMPOTENCY_TYPE,
    Bounds,
    StoredResponse,
    fingerprint,
    lookup,
    parse_key,
    remember,
    remember_alone,
)
from console.gateway.inputs import check_record_id, parse_query
from console.gateway.negotiation import (
    choose_format,
    parse_body_off_loop,
    prefers_xml,
    read_body,
    render,
)
from console.gateway.outbox import enqueue
from console.gateway.problems import Problem, problem_body
from console.gateway.ratelimit import quota_problem, rate_limit_headers
from console.gateway.versioning import v1_headers, wrap_v2

if TYPE_CHECKING:
    from collections.abc import Callable

    from console.catalogue import Contract, Operation
    from console.gateway.accesslog import Exchange
    from console.gateway.auth import Claims
    from console.gateway.faults import AttemptCounter
    from console.gateway.idempotency import IdempotencyStore
    from console.gateway.outbox import OutboxRelay
    from console.gateway.ratelimit import RateLimiter
    from console.gateway.routing import Route, Router
    from console.gateway.settings import ResolvedSettings


class GatewayParts(Protocol):
    """What serving an operation needs of a gateway (:class:`console.gateway.app.Gateway` has it).

    A protocol rather than the class itself, so that this module does not import the app that
    mounts it.
    """

    settings: ResolvedSettings
    router: Router
    store: DomainStore
    relay: OutboxRelay
    limiter: RateLimiter
    idempotency: IdempotencyStore
    attempts: AttemptCounter

    def verify(self, authorization: str | None, scope: str | None) -> Claims: ...


log = logging.getLogger("apilog.gateway")

SLA_TYPE = "https://apilog.dev/problems/latency-sla"
ROLLBACK_TYPE = "https://apilog.dev/problems/rolled-back"


def effective_version(route: Route) -> str | None:
    """The version that shapes the answer: the prefix, else the latest for a versioned operation.

    docs/contracts.md: "unversioned = latest", so an unversioned call on an operation with the
    versioning note answers like its newest version; other operations answer the bare body.
    """
    if route.version is not None:
        return route.version
    versions = route.facts.versions
    return versions[-1] if versions else None


class Call:
    """One request as the handler reads it, from the ASGI scope and what the envelope already read.

    Starlette's ``Request`` would parse the URL and the headers a second time for each request
    (its ``url`` property alone was ~3 % of the loop's time); the envelope has both at hand.
    ``headers`` holds lower-case names, the first value of a repeated header (as
    ``Request.headers.get``).
    """

    __slots__ = ("ex", "headers", "method", "path", "query", "receive", "scope")

    def __init__(self, scope: Any, receive: Any, ex: Exchange) -> None:
        self.scope, self.receive, self.ex = scope, receive, ex
        self.method, self.path, self.query, self.headers = ex.method, ex.path, ex.query, ex.headers

    async def stream(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive (``Request.stream``); ClientDisconnect if the client left."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return


class OperationHandler:
    """The catch-all endpoint: every ``METHOD [/vN]/path?action=…`` lands here."""

    def __init__(self, gateway: GatewayParts) -> None:
        self.gw = gateway

    async def __call__(self, request: Call) -> Response:
        ex = request.ex
        extra: dict[str, str] = {"Vary": "Accept"}
        version, bare = self.gw.router.split(request.path)
        if version == "v1":  # every v1 answer, refusals included, announces the retirement
            extra.update(v1_headers(self.gw.settings.base_url, bare, request.query))
        try:
            query = parse_query(request.query)
            route = self.gw.router.resolve(request.method, request.path, query.get("action"))
            facts = route.facts
            ex.route, ex.service, ex.version = facts.name, facts.domain, route.version
            ex.operation = facts.log_operation
            ex.full = facts.full_log
            return await self._serve(request, route, query, extra)
        except Problem as problem:
            problem.headers = {**extra, **problem.headers}
            raise

    async def _serve(self, request: Call, route: Route, query: dict[str, str],
                     extra: dict[str, str]) -> Response:
        gw, op, facts, ex = self.gw, route.operation, route.facts, request.ex
        accept = request.headers.get("accept")
        xml_allowed = facts.json_xml
        fmt = choose_format(accept, xml_allowed)
        ex.client_id = gw.verify(request.headers.get("authorization"), facts.scope).client_id

        if facts.rate_limit is not None:
            limit, window = facts.rate_limit
            decision = gw.limiter.hit(f"{ex.client_id}|{facts.name}", limit, window)
            extra.update(rate_limit_headers(decision, window))
            if not decision.allowed:
                raise quota_problem(decision)

        plan = fault_headers.read_faults(request.headers, gw.settings.faults)
        ex.faults_ignored = plan.ignored
        ex.faults_applied = plan.requested
        if plan.abort is not None:
            ex.outcome = "rejected"  # injected: nothing ran, nothing failed
            raise Problem(plan.abort, "Injected fault", f"X-Fault-Abort asked for {plan.abort}",
                          type=fault_headers.FAULT_TYPE)
        key = parse_key(request.headers.get("idempotency-key"))
        if plan.fail_attempts:
            attempt = gw.attempts.next_attempt(f"{ex.client_id}|{key or ex.client_request_id or ex.request_id}")
            ex.tries = attempt
            if attempt <= plan.fail_attempts:
                ex.outcome = "rejected"
                raise Problem(503, "Injected fault",
                              f"X-Fault-Fail-Attempts: attempt {attempt} of the first {plan.fail_attempts} fails",
                              type=fault_headers.FAULT_TYPE, headers={"Retry-After": "0"}, attempt=attempt)

        raw = await read_body(request, gw.settings.max_body_bytes)
        ex.request_body = raw
        fields = await self._fields(request.method, raw, request.headers.get("content-type"),
                                    xml_allowed, query)
        check_record_id(fields, query)

        if key is None and facts.retry:
            raise Problem(400, "Idempotency-Key required",
                          f"{facts.label} may be retried, so it needs an Idempotency-Key header: "
                          'Idempotency-Key: "<a new UUID per logical request>"',
                          type=IDEMPOTENCY_TYPE)
        if key is None:
            return await self._run(request, route, query, fields, fmt, plan, extra)
        scope = f"{ex.client_id}|{op.method} {route.version or ''}{op.path} {op.action}|{key}"
        print_ = fingerprint(op.method, route.version, request.path, request.query, raw)
        gw.idempotency.begin(scope, print_)
        try:
            stored = await gw.store.run(lookup, scope, print_, self._bounds().ttl_s, time.time())
            if stored is not None:
                ex.tries = max(ex.tries, stored.attempts)
                ex.replayed = True
                return Response(stored.body, status_code=stored.status,
                                headers={**dict(stored.headers), **extra, "Idempotent-Replayed": "true"})
            try:
                return await self._run(request, route, query, fields, fmt, plan, extra, (scope, print_))
            except Problem as problem:
                if problem.status < 500:  # final: replayed like a success; a 5xx lets a retry run
                    await self._keep_problem(scope, print_, problem, accept)
                raise
        finally:
            gw.idempotency.end(scope)

    def _bounds(self) -> Bounds:
        s = self.gw.settings
        return Bounds(s.idempotency_max_keys, s.idempotency_max_bytes, s.idempotency_ttl_s)

    @staticmethod
    def _stored(response: Response, extra: dict[str, str]) -> StoredResponse:
        """What a replay answers: the response less its length and per-request headers."""
        kept = [(k, v) for k, v in response.headers.items()
                if k.lower() not in {"content-length", *map(str.lower, extra)}]
        return StoredResponse(response.status_code, kept, bytes(response.body))

    async def _keep_problem(self, scope: str, print_: str, problem: Problem, accept: str | None) -> None:
        body, media_type = problem_body(problem, "xml" if prefers_xml(accept) else "json")
        headers = [("content-type", media_type), *problem.headers.items()]
        await self.gw.store.run(remember_alone, scope, print_, StoredResponse(problem.status, headers, body),
                                self._bounds(), time.time())

    @staticmethod
    async def _fields(method: str, raw: bytes, content_type: str | None, xml_allowed: bool,
                      query: dict[str, str]) -> dict[str, Any]:
        """The action's input: query parameters for GET/DELETE, else the body object."""
        if method in QUERY_METHODS:
            return {k: v for k, v in query.items() if k != "action"}
        body = await parse_body_off_loop(content_type, raw, xml_allowed)  # size enforced by read_body
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise Problem(400, "Bad Request", "the request body must be an object (a JSON object "
                          "or an XML element with child elements)")
        return body

    async def _run(self, request: Call, route: Route, query: dict[str, str], fields: dict[str, Any],
                   fmt: str, plan: fault_headers.FaultPlan, extra: dict[str, str],
                   idempotency: tuple[str, str] | None = None) -> Response:
        gw, op, ex = self.gw, route.operation, request.ex
        sla = route.facts.latency_sla
        deadline = None
        if sla is not None:
            max_ms = int(sla.params.get("max_ms", 1000))
            deadline = time.monotonic() - (time.perf_counter() - ex.t0) + max_ms / 1000
        overrun = False
        if plan.delay_ms:
            wait = plan.delay_ms / 1000
            if deadline is not None and wait >= deadline - time.monotonic():
                # A delay that reaches the deadline is a late answer, decided now: the sleep to
                # the deadline may end a fraction of a millisecond early (the loop's timers are
                # coarser than the clock), and the call then answered 200 at 999.5 ms of 1000.
                wait, overrun = max(0.0, deadline - time.monotonic()), True
            await asyncio.sleep(wait)
        if deadline is not None and (overrun or time.monotonic() >= deadline):
            assert sla is not None, "only the latency-sla contract sets a deadline"
            raise self._late(op, sla, wrote=False)

        is_write = op.action in WRITE_ACTIONS
        emit = None
        if is_write or route.facts.kafka_event:
            emit = self._emitter(route, ex)
        answered: list[Response] = []
        keep = None
        if idempotency is not None:
            bounds = self._bounds()

            def keep(conn: Any, result: ActionResult) -> None:
                # The response is made here so its key commits with the write, or not at all.
                answered.append(self._respond(request, route, result, fmt, extra))
                remember(conn, *idempotency, self._stored(answered[0], extra), bounds, time.time())
        intent = Intent(route.facts.domain, op.action, fields, query, emit=emit, keep=keep,
                        fail_after_write=plan.after_write, deadline=deadline)
        started = time.perf_counter()
        try:
            result = await self._perform(intent, deadline)
        except RolledBack as rolled:
            ex.transaction_id = rolled.transaction_id
            cause = rolled.__cause__
            if isinstance(cause, InjectedFault):
                ex.outcome = "rolled_back"
                raise Problem(500, "Rolled back", "X-Fault-After-Write failed the request after "
                              "the write; the transaction was rolled back: no data kept, no event "
                              "sent", type=ROLLBACK_TYPE, rolled_back=True,
                              transaction_id=ex.transaction_id) from None
            if isinstance(cause, DeadlineExceeded):
                assert sla is not None, "only the latency-sla contract sets a deadline"
                if is_write:
                    ex.outcome = "rolled_back"
                raise self._late(op, sla, wrote=is_write, transaction_id=ex.transaction_id) from None
            log.error("action %s failed (request %s)", route.facts.label, ex.request_id, exc_info=cause)
            ex.outcome = "rolled_back" if is_write else "error"
            raise Problem(500, "Rolled back", f"the action failed and its transaction was rolled "
                          f"back; quote request id {ex.request_id}", type=ROLLBACK_TYPE,
                          rolled_back=is_write, transaction_id=ex.transaction_id) from None
        finally:
            ex.action_ms = round((time.perf_counter() - started) * 1000, 3)
        ex.transaction_id = result.transaction_id
        if result.event_id:
            ex.event_id = result.event_id
            gw.relay.wake()
        return answered[0] if answered else self._respond(request, route, result, fmt, extra)

    async def _perform(self, intent: Intent, deadline: float | None) -> ActionResult:
        """Run in the database thread's next group commit; past the deadline answer late only if it
        really committed."""
        future = self.gw.store.perform(intent)
        if deadline is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            # The thread checks the deadline before COMMIT, so it is about to roll back (or
            # committed a hair before): wait for its verdict rather than guess.
            return await future

    def _emitter(self, route: Route, ex: Exchange) -> Callable[[Any, ActionResult], str]:
        op, facts = route.operation, route.facts
        source = f"{self.gw.settings.base_url}{op.path}"

        def emit(conn: Any, result: ActionResult) -> str:
            data = {"operation": facts.label, "domain": facts.domain, "action": op.action,
                    "method": op.method, "path": op.path, "version": route.version,
                    "request_id": ex.request_id, "client_id": ex.client_id,
                    "transaction_id": result.transaction_id, **result.event_data}
            return enqueue(conn, domain=facts.domain, action=op.action, subject=result.subject,
                           data=data, source=source, traceparent=ex.traceparent,
                           max_bytes=self.gw.settings.max_event_bytes)
        return emit

    @staticmethod
    def _late(op: Operation, sla: Contract, *, wrote: bool, transaction_id: str | None = None) -> Problem:
        max_ms = int(sla.params.get("max_ms", 1000))
        extensions: dict[str, Any] = {"max_ms": max_ms}
        if wrote:
            extensions.update(rolled_back=True, transaction_id=transaction_id)
        return Problem(504, "Gateway Timeout", f"{op.label()} promises success within {max_ms} ms; "
                       "the gateway gave up at the deadline" + (" and rolled back" if wrote else ""),
                       type=SLA_TYPE, **extensions)

    def _respond(self, request: Call, route: Route, result: ActionResult, fmt: str,
                 extra: dict[str, str]) -> Response:
        op, ex = route.operation, request.ex
        headers = dict(extra)
        if result.transaction_id and result.wrote:
            headers["X-Transaction-Id"] = result.transaction_id
        if result.event_id:
            headers["X-Event-Id"] = result.event_id
        prefix = f"/{route.version}" if route.version else ""
        if op.action == "add-record" and result.record_id:
            location = f"{prefix}{op.path}?action=check-status&id={quote_plus(result.record_id)}"
            headers["Location"] = location
        version = effective_version(route)
        if result.status == 204:
            return Response(status_code=204, headers=headers)
        data = result.body
        if version is not None and version != "v1":
            meta = {"version": version, "request_id": ex.request_id, "operation": route.facts.label}
            if result.wrote:
                meta["transaction_id"] = result.transaction_id
            if result.event_id:
                meta["event_id"] = result.event_id
            data = wrap_v2(data, meta)
        body, media_type = render(data, fmt)
        return Response(body, status_code=result.status, headers=headers, media_type=media_type)
