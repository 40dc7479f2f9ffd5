"""The core never imports Textual (docs/architecture.md, Boundaries)."""

import subprocess
import sys


def test_console_modules_do_not_import_textual():
    code = (
        "import importlib, pkgutil, sys, console\n"
        "for m in pkgutil.walk_packages(console.__path__, 'console.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.'))\n"
        "print('TEXTUAL' if bad else 'CLEAN')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("CLEAN"), "a console module imports textual"


def test_the_console_side_shares_only_the_catalogue_with_the_gateway():
    """The caller, log, feed, checks and screens talk to a gateway as an outside client would:
    none of them imports ``console.gateway`` (the sandbox, which launches it, may)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    client_side = [root / "screens", *(root / "console" / part for part in
                                       ("caller", "txlog", "events", "conformance", "config"))]
    offenders = []
    for folder in client_side:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                offenders += [f"{path.relative_to(root)}:{node.lineno} {n}" for n in names
                              if n == "console.gateway" or n.startswith("console.gateway.")]
    assert offenders == []


def test_the_xml_mapping_is_shared_and_refuses_hostile_xml():
    import pytest

    from console.catalogue.xmlmap import XmlMappingError, from_xml, to_xml

    data = {"id": "r1", "n": 12.5, "ok": True, "none": None, "tags": ["a", "b"], "weird key": {}}
    assert from_xml(to_xml(data)) == data
    with pytest.raises(XmlMappingError) as caught:
        from_xml(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>')
    assert caught.value.members.get("refused") in {"dtd", "entity"}


#: What only the core's Session may build or open: a front end that did would skip its policies
#: (read-only, redaction, the rate budget, the sandbox's lifetime).
SESSION_OWNED = frozenset({"TransactionLog", "Caller", "EventFeed", "Runner", "open_log",
                           "open_default_log", "connect_profile", "Sandbox"})


def front_end_modules(root):
    """The CLI commands and the console: adapters over the session."""
    yield root / "console" / "cli.py"
    yield from (p for p in (root / "console").glob("*/cli.py") if p.parent.name != "gateway")
    yield from (root / "screens").rglob("*.py")


def test_no_front_end_builds_what_the_session_owns():
    """``apilog gateway`` is the server, not a client front end; ``apilog sandbox`` manages the
    sandbox itself and is left to its own module (``console/sandbox_cli.py``)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = []
    for path in front_end_modules(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in SESSION_OWNED:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno} {name}(…)")
    assert offenders == []


def test_no_import_cycles_among_the_project_modules():
    """Cycles hide the dependency graph; imports inside functions and under TYPE_CHECKING count."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    modules = {}
    for folder in ("console", "screens"):
        for path in (root / folder).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert sorted({" ".join(sorted(set(c.split(" -> ")))) for c in cycles}) == []
