"""From ``METHOD [/vN]/path?action=<slug>`` to one catalogued operation, or the right refusal.

Unknown path → 404; a method the catalogue does not name for the path → 405 with ``Allow``;
the action missing → 400 and not catalogued for the path and method → 404, both naming the
actions that are; a version prefix on an operation without the versioning note (or with
another version list) → 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.catalogue import Catalogue, Operation
from console.gateway.problems import Problem
from console.gateway.versioning import split_version

ROUTING_TYPE = "https://apilog.dev/problems/routing"


@dataclass(frozen=True)
class Route:
    """The operation a request names, and under which version it was asked for."""

    operation: Operation
    version: str | None
    bare_path: str

    @property
    def name(self) -> str:
        """Route name for the access log: ``PATCH /customer/update add-record``."""
        return f"{self.operation.method} {self.operation.path} {self.operation.action}"


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
        return Route(operation, version, bare)
