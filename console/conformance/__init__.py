"""Conformance: check every contract of every operation against a gateway, with evidence.

``Runner(...).run()`` returns one :class:`Verdict` per (operation, contract); ``report`` turns
them into a table, JSON lines or JUnit XML; ``apilog check`` drives both. See docs/conformance.md.
"""

from console.conformance.verdict import (
    CATALOGUE_DEFECT,
    CONTRACT_SLUGS,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    SKIPPED,
    VERDICTS,
    Verdict,
    summarise,
)

__all__ = [
    "CATALOGUE_DEFECT",
    "CONTRACT_SLUGS",
    "FAILED",
    "NOT_APPLICABLE",
    "PASSED",
    "SKIPPED",
    "VERDICTS",
    "Verdict",
    "summarise",
]
