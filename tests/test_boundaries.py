"""The core never imports Textual (architecture.md, Boundaries)."""

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
