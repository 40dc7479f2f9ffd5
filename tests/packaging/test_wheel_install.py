"""A normal install, as ``pip install .`` and ``pipx install`` make it, works outside the checkout.

The wheel is built from the checkout, installed into a fresh virtual environment in a temporary
folder, and run from a working directory that is not the checkout: the shipped catalogue, the
version and the console's first frame must all come from the installed package.

The new environment gets apilog from the wheel (``--no-deps``) and its dependencies by a
``.pth`` line naming this test environment's site-packages, so the test needs no network and
no second 45-second dependency install. Only ``.pth`` files inside a site directory run, so
the checkout's editable hook in that folder stays inert, and the test asserts that ``console``
is imported from the new environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

#: The console's first frame, headless: the shipped catalogue in the table, the stylesheet loaded.
FIRST_FRAME = """
import asyncio, html, console, screens.app
from console.catalogue import load_catalogue
from screens.app import ApilogApp

async def main():
    app = ApilogApp(load_catalogue())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        svg = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        print("css", screens.app.CSS_PATH.is_file(), len(app.stylesheet.rules) > 0)
        print("frame", "/customer/update" in svg, "Add record" in svg)

asyncio.run(main())
print("console", console.__file__)
"""


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _build_isolation() -> list[str]:
    """Build offline with this environment's setuptools when it is recent enough (pyproject asks
    for >= 77); otherwise let pip fetch it into an isolated build environment."""
    try:
        major = int(metadata.version("setuptools").split(".")[0])
    except metadata.PackageNotFoundError:
        return []
    return ["--no-build-isolation"] if major >= 77 else []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *_build_isolation(),
          "-w", str(out), str(REPO)], cwd=out)
    (built,) = out.glob("apilog-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(bin directory, a working directory outside the checkout, the environment to run in)."""
    home = tmp_path_factory.mktemp("installed")
    venv = home / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=home)
    bin_dir = venv / "bin"
    site = Path(_run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=home).strip())
    (site / "zz_apilog_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "-q",
          "--no-deps", "--no-index", str(wheel)], cwd=home)
    work = home / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    return bin_dir, work, env


def test_the_wheel_carries_the_catalogue_and_the_stylesheet(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "console/data/td448.txt" in names
    assert "screens/apilog.tcss" in names
    assert not [n for n in names if n.startswith("assets/") or n.endswith(".svg")], "screenshots stay out"


def test_apilog_version_and_catalogue_from_the_installed_wheel(installed):
    bin_dir, work, env = installed
    assert _run([str(bin_dir / "apilog"), "--version"], cwd=work, env=env).strip() == "apilog, version 0.1.0"
    shown = _run([str(bin_dir / "apilog"), "catalogue", "show"], cwd=work, env=env)
    assert shown.rstrip().endswith("320 rows, 152 operations over 7 paths")
    where = _run([str(bin_dir / "python"), "-c", "import console.catalogue as c; print(c.DEFAULT_CATALOGUE)"],
                 cwd=work, env=env).strip()
    assert where.startswith(str(bin_dir.parent)) and Path(where).is_file(), where


def test_the_console_paints_its_first_frame_from_the_installed_wheel(installed):
    bin_dir, work, env = installed
    out = _run([str(bin_dir / "python"), "-c", FIRST_FRAME], cwd=work, env=env)
    assert "css True True" in out
    assert "frame True True" in out
    console_file = out.split("console ", 1)[1].split()[0]
    assert console_file.startswith(str(bin_dir.parent)), f"console imported from {console_file}, not the wheel"
