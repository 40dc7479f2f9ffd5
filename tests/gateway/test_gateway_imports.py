"""The gateway's modules import each other without a cycle, and at the top of the file."""

from __future__ import annotations

import ast
from pathlib import Path

import console.gateway

PACKAGE = Path(console.gateway.__file__).parent


def _imports(tree: ast.Module) -> set[str]:
    """Every ``console.gateway`` module named by an import anywhere in the module."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "console.gateway":
                found.update(f"console.gateway.{alias.name}" for alias in node.names)
            elif node.module.startswith("console.gateway."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("console.gateway."))
    return found


def _graph() -> dict[str, set[str]]:
    return {f"console.gateway.{path.stem}": _imports(ast.parse(path.read_text()))
            for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def test_no_import_cycle_between_gateway_modules():
    graph = _graph()
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in trail:
                cycles.append([*trail[trail.index(target):], target])
            elif len(trail) < len(graph):
                visit(target, [*trail, target])

    for module in sorted(graph):
        visit(module, [module])
    assert not cycles, cycles[0]


def test_request_path_modules_import_only_at_the_top():
    """A deferred import hides an edge of the graph above; these modules have none."""
    modules = ["app", "handler", "problems", "xmlcodec", "negotiation", "routing", "inputs",
               "envelope", "accesslog", "auth", "server", "versioning"]
    deferred = {}
    for name in modules:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        nested = [node.lineno for function in ast.walk(tree)
                  if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                  for node in ast.walk(function) if isinstance(node, ast.Import | ast.ImportFrom)]
        if nested:
            deferred[name] = nested
    assert not deferred, deferred
