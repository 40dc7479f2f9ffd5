"""The session's policies as values the engines below it can apply without knowing the session.

A read-only profile refuses every call that may change state; a conformance run against a
gateway other than the sandbox sends state-changing probes only when the operator allows
writes. The rule itself — which calls may change state — is the catalogue's
(:func:`console.catalogue.vocabulary.may_change_state`).
"""

from __future__ import annotations

from dataclasses import dataclass

from console.catalogue.vocabulary import may_change_state
from console.errors import ApilogError

#: The short reasons a skipped verdict carries.
READ_ONLY = "read-only profile"
WRITES_NOT_ALLOWED = "writes not allowed"


class PolicyRefused(ApilogError):
    """The session's policy refuses the request (read-only profile, writes not allowed).

    ``str()`` is the one line a front end shows; ``reason`` is the short form a check verdict
    carries (``read-only profile``, ``writes not allowed``).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class WritePolicy:
    """Whether calls that may change state are allowed, and if not, why (a verdict's reason)."""

    allowed: bool = True
    reason: str = ""

    def refusal(self, method: str, action: str | None) -> str | None:
        """Why a ``method`` request for ``action`` may not be sent under this policy, or None."""
        if self.allowed or not may_change_state(method, action or ""):
            return None
        return self.reason

#: The policy of a run that may write (the embedded sandbox, or --allow-writes).
WRITES_ALLOWED = WritePolicy()
