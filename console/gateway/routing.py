"""From ``METHOD [/vN]/path?action=<slug>`` to one catalogued operation, or the right refusal.

Unknown path → 404; a method the catalogue does not name for the path → 405 with ``Allow``;
the action missing → 400 and not catalogued for the path and method → 404, both naming the
actions that are; a version prefix on an operation without the versioning note (or with
another version list) → 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.catalogue import Catalogue, Contract, Operation
from console.catalogue.vocabulary import NON_IDEMPOTENT_METHODS
from console.gateway.problems import Problem
from console.gateway.versioning import split_version

ROUTING_TYPE = "https://apilog.dev/problems/routing"
#: Resolved routes remembered by (method, path, action). Only catalogued combinations resolve,
#: so the memo is bounded by the catalogue; the cap is a guard all the same.
ROUTE_MEMO_SIZE = 4096


@dataclass(frozen=True)
class Facts:
    """What serving an operation reads of it, read once when the router is built.

    ``Operation.has``/``contract``/``domain``/``scope`` compute their answer anew on each call;
    a request asked them a dozen times (docs/benchmarks.md, gateway section).
    """

    domain: str
    scope: str
    label: str
    #: Route name for the access log: ``PATCH /customer/update add-record``.
    name: str
    #: The ``operation`` member of the access-log record (shared by records, never mutated).
    log_operation: dict[str, Any]
    json_xml: bool
    full_log: bool
    kafka_event: bool
    retry: bool
    #: ``(limit, window_s)`` of the rate-limit contract, else None.
    rate_limit: tuple[int, int] | None
    latency_sla: Contract | None
    versions: tuple[str, ...]

    @classmethod
    def of(cls, op: Operation) -> Facts:
        limit = op.contract("rate-limit")
        return cls(
            domain=op.domain, scope=op.scope, label=op.label(),
            name=f"{op.method} {op.path} {op.action}",
            log_operation={"path": op.path, "method": op.method, "action": op.action,
                           "contracts": [c.slug for c in op.contracts]},
            json_xml=op.has("json-xml"), full_log=op.has("full-log"), kafka_event=op.has("kafka-event"),
            retry=op.has("retry") and op.method in NON_IDEMPOTENT_METHODS,
            rate_limit=(None if limit is None else
                        (int(limit.params.get("limit", 1000)), int(limit.params.get("window_s", 60)))),
            latency_sla=op.contract("latency-sla"), versions=tuple(versions_of(op)))


@dataclass(frozen=True)
class Route:
    """The operation a request names, and under which version it was asked for."""

    operation: Operation
    version: str | None
    bare_path: str
    facts: Facts

    @property
    def name(self) -> str:
        """Route name for the access log: ``PATCH /customer/update add-record``."""
        return self.facts.name


def versions_of(operation: Operation) -> list[str]:
    contract = operation.contract("versioning")
    if contract is None:
        return []
    return list(contract.params.get("versions") or ["v1", "v2"])


class Router:
    """Resolves requests against one catalogue; built once, looked up per request."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.paths = list(catalogue.paths)
        self._known = set(self.paths)
        self._ops: dict[tuple[str, str], dict[str, Operation]] = {}
        for op in catalogue.operations:
            self._ops.setdefault((op.path, op.method), {})[op.action] = op
        self.versions = sorted({v for op in catalogue.operations for v in versions_of(op)})
        self._facts = {op.key: Facts.of(op) for op in catalogue.operations}
        self._resolved: dict[tuple[str, str, str | None], Route] = {}

    def split(self, path: str) -> tuple[str | None, str]:
        """``("v1", "/customer/update")`` for ``/v1/customer/update``; ``(None, path)`` otherwise."""
        return split_version(path, self._known, self.versions)

    def methods_at(self, bare: str, version: str | None) -> list[str]:
        """The methods that answer at ``bare`` (under ``/version``): what ``Allow`` lists.

        Under a prefix only methods with an operation served in that version count, so that
        ``Allow`` never names a method that would answer 404 there.
        """
        methods = self.catalogue.methods_for(bare)
        if version is None:
            return methods
        return [m for m in methods
                if any(version in versions_of(op) for op in self._ops[(bare, m)].values())]

    def resolve(self, method: str, path: str, action: str | None) -> Route:
        """The route ``method path?action=`` names, or the refusal (see the module docstring)."""
        key = (method, path, action)
        route = self._resolved.get(key)
        if route is None:
            route = self._resolve(method, path, action)
            if len(self._resolved) >= ROUTE_MEMO_SIZE:
                self._resolved.clear()
            self._resolved[key] = route
        return route

    def _resolve(self, method: str, path: str, action: str | None) -> Route:
        version, bare = self.split(path)
        if bare not in self._known:
            raise Problem(404, "Not Found",
                          f"no API at {path}; catalogued paths: {', '.join(self.paths)}",
                          type=ROUTING_TYPE)
        methods = self.methods_at(bare, version)
        if not methods:
            raise Problem(404, "Version not served",
                          f"nothing at {bare} is served under /{version}; call {bare} without a prefix",
                          type=ROUTING_TYPE)
        if method not in methods:
            raise Problem(405, "Method Not Allowed",
                          f"{method} is not catalogued for {path}; allowed: {', '.join(methods)}",
                          type=ROUTING_TYPE, headers={"Allow": ", ".join(methods)})
        by_action = self._ops[(bare, method)]
        allowed = ", ".join(by_action)
        if not action:
            raise Problem(400, "Missing action",
                          f"name the action as ?action=<slug>; {method} {bare} allows: {allowed}",
                          type=ROUTING_TYPE, allowed_actions=list(by_action))
        operation = by_action.get(action)
        if operation is None:
            raise Problem(404, "Action not catalogued",
                          f"{method} {bare} has no action {action!r}; allowed: {allowed}",
                          type=ROUTING_TYPE, allowed_actions=list(by_action))
        if version is not None and version not in versions_of(operation):
            served = versions_of(operation)
            detail = (f"{operation.label()} is served under {', '.join('/' + v for v in served)}"
                      if served else f"{operation.label()} is not versioned; call {bare} without a prefix")
            raise Problem(404, "Version not served", detail, type=ROUTING_TYPE)
        return Route(operation, version, bare, self._facts[operation.key])
