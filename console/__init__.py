"""apilog core: catalogue, gateway, caller, transaction log, event feed, conformance, CLI.

Nothing under ``console`` imports Textual; the terminal UI lives in ``screens``.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The repository's ``assets/`` folder (apilog is installed editable from its checkout).
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
