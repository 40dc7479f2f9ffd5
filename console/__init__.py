"""apilog core: catalogue, gateway, caller, transaction log, event feed, conformance, CLI.

Nothing under ``console`` imports Textual; the terminal UI lives in ``screens``.
"""

from importlib import resources
from pathlib import Path

__version__ = "0.1.0"

#: The data installed with the package (``console/data/``: the shipped catalogue). Read through
#: importlib.resources so that a wheel install finds it as well as an editable checkout; pip
#: unpacks wheels, so the resource is a real directory and a plain ``Path``.
DATA_DIR = Path(str(resources.files("console") / "data"))
