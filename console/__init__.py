"""apilog core: catalogue, gateway, caller, transaction log, event feed, conformance, CLI.

Nothing under ``console`` imports Textual; the terminal UI lives in ``screens``.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The data installed with the package (``console/data/``: the shipped catalogue), beside this
#: file in a wheel install (pip unpacks wheels) as in an editable checkout. Not through
#: importlib.resources, which gives the same directory here and cost the console's start
#: ~2-4 ms of imports (python -X importtime, min of 6).
DATA_DIR = Path(__file__).resolve().parent / "data"
