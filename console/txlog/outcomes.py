"""The one list of transaction outcomes. Everything that shows or filters outcomes uses these."""

from __future__ import annotations

PENDING = "pending"                  # written before the first byte left; not finished yet
COMMITTED = "committed"              # a write answered 2xx
OK = "ok"                            # a read (check-status, export-data) answered 2xx
ROLLED_BACK = "rolled_back"          # the gateway said the change was undone ("rolled_back": true)
REJECTED = "rejected"                # 4xx other than 429: bad input, auth, scope, conflict
FAILED = "failed"                    # 5xx or no response, and no retry contract (or not retryable)
RATE_LIMITED = "rate_limited"        # 429 from the gateway, or refused by the client-side budget
RETRIES_EXHAUSTED = "retries_exhausted"  # retry contract: every allowed attempt failed transiently
INTERRUPTED = "interrupted"          # the process ended (crash, SIGKILL, Ctrl-C) mid-call

OUTCOMES: tuple[str, ...] = (PENDING, COMMITTED, OK, ROLLED_BACK, REJECTED, FAILED, RATE_LIMITED,
                             RETRIES_EXHAUSTED, INTERRUPTED)
FINAL_OUTCOMES: tuple[str, ...] = OUTCOMES[1:]
#: Outcomes for which ``apilog call`` exits 0.
SUCCESS_OUTCOMES = frozenset({COMMITTED, OK})
