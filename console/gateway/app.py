"""The reference gateway as a Starlette app, built from a catalogue: :func:`create_app`.

Fixed endpoints (token, key set, OpenAPI, health, admin log) are Starlette routes; every other
request is a catalogued operation (or its refusal), served by :mod:`console.gateway.handler`
straight from the envelope, without Starlette's routing and middleware layers. The
:class:`Envelope` wraps both, so every response carries the request id and trace context and
every failure is a problem-details body.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console import collector
from console.gateway.accesslog import AccessLog, Exchange
from console.gateway.auth import (
    ADMIN_SCOPE,
    Claims,
    ClientRegistry,
    KeyRing,
    TokenIssuer,
    all_scopes,
)
from console.gateway.domains import DomainStore
from console.gateway.envelope import ASGIApp, Envelope, Receive, Scope, Send, exchange_of
from console.gateway.faults import AttemptCounter
from console.gateway.handler import Call, OperationHandler
from console.gateway.idempotency import IdempotencyStore
from console.gateway.openapi import gateway_openapi
from console.gateway.outbox import OutboxRelay, outbox_health, topic_for
from console.gateway.problems import Problem
from console.gateway.ratelimit import RateLimiter
from console.gateway.routing import Router
from console.gateway.settings import GatewaySettings, ResolvedSettings, data_dir
from console.private_files import private_dir, private_file

log = logging.getLogger("apilog.gateway")

#: Verified tokens remembered (by their exact Authorization header) until they expire.
VERIFIED_CACHE_SIZE = 4096
#: The collector's thresholds while a gateway serves (gen0 allocations, gen1 and gen2 passes).
#: Every request leaves objects behind on purpose (its access-log record, up to
#: ``log_capacity``), so with Python's defaults (700, 10, 10) the collector ran 40–70 times a
#: second and walked the growing heap in full now and then: 80–170 µs per request and pauses
#: in the tail. With these, 5–7 µs per request and 8–30 % more throughput (docs/benchmarks.md).
#: Shared with the event feed, which keeps its events on purpose too (:mod:`console.collector`);
#: the first gateway of a process also freezes what start-up made (modules, catalogue, keys:
#: never garbage, not walked again), the last to stop unfreezes it.
GC_THRESHOLDS = collector.GATEWAY


#: Fixed endpoints and the methods they answer (for 405 + Allow on the others).
FIXED = {"/oauth/token": "POST", "/.well-known/jwks.json": "GET", "/openapi.json": "GET",
         "/healthz": "GET"}


class Gateway:
    """The parts of one gateway instance, shared by its endpoints."""

    def __init__(self, settings: ResolvedSettings) -> None:
        self.settings = settings
        self.catalogue = settings.load_catalogue()
        self.router = Router(self.catalogue)
        self.domains = list(dict.fromkeys(op.domain for op in self.catalogue.operations))
        self.scopes = all_scopes(self.domains)
        self.store = DomainStore(settings.db_path)
        self.relay = OutboxRelay(self.store, settings.kafka_bootstrap, settings.outbox_poll_s,
                                 settings.max_event_bytes, topics=self.topics)
        self.limiter = RateLimiter()
        self.idempotency = IdempotencyStore()
        self.attempts = AttemptCounter()
        self.access_log = AccessLog(settings.log_capacity, settings.log_path, settings.log_body_bytes,
                                    settings.redact_keys, secrets=(settings.client_secret or "",
                                                                   *settings.extra_clients.values()))
        self.clients = ClientRegistry()
        self.clients.register(settings.client_id, settings.client_secret, self.scopes)
        for client_id, secret in settings.extra_clients.items():
            self.clients.register(client_id, secret, self.scopes)
        self.keyring = KeyRing.generate()
        self.issuer = TokenIssuer(self.keyring, settings.issuer, settings.audience,
                                  settings.token_ttl_s, self.clients)
        self._openapi: dict[str, Any] | None = None
        self._verified: dict[str, Claims] = {}

    @property
    def topics(self) -> list[str]:
        return [topic_for(domain) for domain in self.domains]

    def verify(self, authorization: str | None, scope: str | None) -> Claims:
        """The token's claims, or a 401/403 problem with the RFC 6750 challenge.

        A token that passed the full check is remembered until its ``exp``, so a client's next
        calls skip the RSA verification (the gateway's largest cost per request). Anything not
        remembered, expired or lacking the scope goes through the full check, which raises.
        """
        cached = self._verified.get(authorization or "")
        if cached is not None and cached.expires_at > time.time() and (scope is None or cached.has(scope)):
            return cached
        claims = self.issuer.verify_bearer(authorization, scope)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[authorization or ""] = claims
        return claims

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        db_dir = self.settings.db_path.parent
        private_dir(db_dir, ours=db_dir.resolve() == data_dir().resolve())
        private_file(self.settings.db_path, companions=("-wal", "-shm"))
        self.store.open()
        await self.relay.start()
        collector.hold(GC_THRESHOLDS, freeze=True)
        try:
            yield
        finally:
            collector.release(GC_THRESHOLDS, freeze=True)
            await self.relay.stop()
            self.store.close()
            self.access_log.close()

    # --- fixed endpoints ---------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        ex = exchange_of(request.scope)
        ex.route, ex.service = "POST /oauth/token", "oauth"
        response = await self.issuer.token_endpoint(request)
        ex.outcome = "committed" if response.status_code < 400 else "rejected"
        return response

    async def jwks(self, request: Request) -> Response:
        exchange_of(request.scope).route = "GET /.well-known/jwks.json"
        return await self.issuer.jwks_endpoint(request)

    async def openapi(self, request: Request) -> Response:
        exchange_of(request.scope).route = "GET /openapi.json"
        if self._openapi is None:
            self._openapi = gateway_openapi(self.catalogue, self.settings.base_url, self.scopes)
        return JSONResponse(self._openapi)

    async def health(self, request: Request) -> Response:
        exchange_of(request.scope).route = "GET /healthz"
        counts = await self.store.run(outbox_health)
        return JSONResponse({
            "status": "ok",
            "base_url": self.settings.base_url,
            "operations": len(self.catalogue.operations),
            "faults": self.settings.faults,
            "kafka": {"bootstrap": self.settings.kafka_bootstrap, "topics": self.topics,
                      "last_error": self.relay.last_error, **counts},
            "database": {"queued": self.store.queued, "group_commits": self.store.groups,
                         "actions_per_commit": round(self.store.grouped / max(1, self.store.groups), 2)},
        })

    async def admin_log(self, request: Request) -> Response:
        return self.admin_record(exchange_of(request.scope), request.headers.get("authorization"),
                                 request.path_params["request_id"])

    def admin_record(self, ex: Exchange, authorization: str | None, request_id: str) -> Response:
        """``GET /admin/log/{request_id}``: the access-log record, for a token with the admin scope."""
        ex.route, ex.service = "GET /admin/log/{request_id}", "admin"
        ex.client_id = self.verify(authorization, ADMIN_SCOPE).client_id
        record = self.access_log.get_json(request_id)
        if record is None:
            raise Problem(404, "No log record", f"no access-log record for request id {request_id!r} "
                          "(records are kept in memory for the latest requests only)")
        return Response(record, media_type="application/json")


async def _not_found_or_wrong_method(request: Request) -> Response:
    path = request.url.path
    allowed = FIXED.get(path)
    if allowed is not None:
        raise Problem(405, "Method Not Allowed", f"{path} answers {allowed} only",
                      headers={"Allow": allowed})
    if path.startswith("/admin/log/"):
        raise Problem(405, "Method Not Allowed", f"{path} answers GET only", headers={"Allow": "GET"})
    raise AssertionError("unreachable")


ADMIN_LOG = "/admin/log/"


def _is_fixed(path: str) -> bool:
    return path in FIXED or path.startswith(ADMIN_LOG)


def _one_segment(text: str) -> bool:
    """What Starlette's ``{name}`` matches: one non-empty path segment."""
    return bool(text) and "/" not in text


class WrongMethod:
    """A fixed path asked with a method it does not answer (the routes match by method).

    An ASGI app rather than a function endpoint, because Starlette limits function endpoints
    without a method list to GET and would answer any other method in plain text itself.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await _not_found_or_wrong_method(Request(scope, receive))
        await response(scope, receive, send)


class GatewayApp(Starlette):
    """Starlette for the lifespan and the fixed endpoints; the catalogued operations bypass it.

    The stack is the :class:`Envelope` around :meth:`dispatch` instead of Starlette's
    error middleware → exception middleware → router: the envelope already turns every
    exception into a problem, and a catalogued request needs no route matching (the catalogue
    decides: 405 + Allow otherwise). Those layers, with a ``Request`` per call, were ~10 % of
    the loop's time per write (docs/benchmarks.md).
    """

    def __init__(self, gateway: Gateway, routes: list[Route]) -> None:
        super().__init__(routes=routes, lifespan=gateway.lifespan)
        self.gateway = gateway
        self.handler = OperationHandler(gateway)
        self.state.gateway = gateway

    def build_middleware_stack(self) -> ASGIApp:
        return Envelope(self.dispatch, access_log=self.gateway.access_log)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        path = scope["path"]
        if not _is_fixed(path):
            response = await self.handler(Call(scope, receive, exchange_of(scope)))
            await response(scope, receive, send)
        elif scope["method"] == "GET" and path.startswith(ADMIN_LOG) and _one_segment(path[len(ADMIN_LOG):]):
            # What the route /admin/log/{request_id} matches, without the router's layers and a
            # Request: apilog check reads a record for every transaction-log verdict (~10 % of
            # its requests), and those layers were ~4 % of the gateway's CPU (py-spy).
            ex = exchange_of(scope)
            response = self.gateway.admin_record(ex, ex.headers.get("authorization"), path[len(ADMIN_LOG):])
            await response(scope, receive, send)
        else:
            await self.router(scope, receive, send)


def create_app(settings: GatewaySettings) -> Starlette:
    """A gateway app for ``settings`` (defaults filled by :meth:`GatewaySettings.resolved`)."""
    gateway = Gateway(settings if isinstance(settings, ResolvedSettings) else settings.resolved())
    routes = [
        Route("/oauth/token", gateway.token, methods=["POST"]),
        Route("/.well-known/jwks.json", gateway.jwks, methods=["GET"]),
        Route("/openapi.json", gateway.openapi, methods=["GET"]),
        Route("/healthz", gateway.health, methods=["GET"]),
        Route("/admin/log/{request_id}", gateway.admin_log, methods=["GET"]),
        Route("/{path:path}", WrongMethod()),
    ]
    return GatewayApp(gateway, routes)
