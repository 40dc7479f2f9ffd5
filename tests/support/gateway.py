"""Gateway fixtures: owned by the gateway work (see tests/conftest.py)."""
