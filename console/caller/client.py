"""The outbound call: OAuth2 token, rate budget, retries with one Idempotency-Key, timing, the log.

Each call writes its pending transaction before the first byte leaves, records every attempt
as it ends (before waiting for anything else), and settles the outcome at the end together with
the attempt that ended the call, so the log can be trusted after a crash.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from console.caller.budget import BudgetRefused, RateBudget
from console.caller.model import Attempt, CallRequest, CallResult, TokenState
from console.caller.outcome import classify, says_rolled_back
from console.caller.payload import MEDIA, body_text, build_url, encode_body
from console.caller.retry import RetryPolicy, parse_retry_after
from console.catalogue.vocabulary import NON_IDEMPOTENT_METHODS
from console.errors import ApilogError
from console.redact import REDACTED, redact_headers
from console.txlog.errors import LogUnavailable

if TYPE_CHECKING:  # console.txlog imports this package's model: no import cycle at runtime
    from console.txlog import TransactionLog

USER_AGENT = "apilog-console/0.1"


class CallerError(ApilogError, RuntimeError):
    """The caller cannot start (profile incomplete, secret missing); the message says the fix."""


class TokenError(ApilogError, RuntimeError):
    """The token endpoint refused or could not be reached."""


class Caller:
    """Fires calls for one profile; one token cache and one rate budget per instance.

    ``transport`` is an httpx2 transport (e.g. ``httpx2.ASGITransport(app)``) for in-process
    gateways. ``retry_base_s`` is the backoff base (small in tests). ``rate_budget=None``
    switches the client-side budget off (conformance checks that must see the gateway's own
    429 do that); ``budget_wait_s`` lets a call wait that long for a slot instead of refusing.
    ``origin`` (``console``, ``cli``, ``check``) is stored on every transaction this caller makes.

    The log is written before a call is sent: when that fails (disk full) the call is not sent
    and :class:`CallerError` says why. A log write failing *after* the request left does not
    lose the answer: the result comes back with ``log_warning`` set, naming the
    Idempotency-Key to retry with.
    """

    def __init__(self, profile: Any, catalogue: Any, txlog: TransactionLog, *,
                 transport: Any = None, retry_base_s: float = 0.2, retry_cap_s: float = 10.0,
                 max_wait_s: float = 30.0, timeout_s: float = 30.0,
                 rate_budget: RateBudget | None = None, use_budget: bool = True,
                 budget_wait_s: float = 0.0, rng: Any = None, origin: str | None = None) -> None:
        self.profile = profile
        #: Who makes the calls (console, cli, check), for the transaction log.
        self.origin = origin
        self.catalogue = catalogue
        self.txlog = txlog
        self._transport = transport
        self._retry_base_s, self._retry_cap_s, self._max_wait_s = retry_base_s, retry_cap_s, max_wait_s
        self._rng = rng
        self._timeout_s = timeout_s
        self.budget = (rate_budget or RateBudget()) if use_budget else None
        self._budget_wait_s = budget_wait_s
        self._client: Any = None
        self._token_lock = asyncio.Lock()
        self._token_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Caller:
        import httpx2
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        p = self.profile
        if not p.base_url or not p.token_url:
            raise CallerError(f"profile {p.name!r} has no base_url/token_url: start the sandbox "
                              f"(apilog sandbox start) or set APILOG_BASE_URL and APILOG_TOKEN_URL")
        if not p.client_id or not p.client_secret:
            hint = f"set {p.client_secret_env}" if p.client_secret_env else "set APILOG_CLIENT_SECRET"
            raise CallerError(f"profile {p.name!r} has no client id or secret: {hint}")
        self.txlog.add_secret(p.client_secret)
        kwargs: dict[str, Any] = {"timeout": httpx2.Timeout(self._timeout_s),
                                  "headers": {"User-Agent": USER_AGENT}}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        else:
            kwargs["verify"] = p.http_verify()
        self._client = AsyncOAuth2Client(
            client_id=p.client_id, client_secret=p.client_secret, token_endpoint=p.token_url,
            grant_type="client_credentials", scope=" ".join(p.scopes) or None, leeway=0,
            update_token=self._on_new_token, **kwargs)
        if self._transport is None:
            from console.http_transport import on_asyncio

            on_asyncio(self._client)  # not transport=: that would drop the environment's proxies
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- token ----------------------------------------------------------------------------------

    async def _on_new_token(self, token: dict[str, Any], **_: Any) -> None:
        """Authlib re-fetched by itself: keep the new token out of the log and re-set the leeway."""
        self._adopt(token)

    def _adopt(self, token: dict[str, Any]) -> None:
        self.txlog.add_secret(token.get("access_token"))
        lifetime = float(token.get("expires_in") or 0)
        # 15 % of the lifetime: early enough to never send an expired token, late enough not to
        # re-fetch before every call (Authlib's default 60 s would, for short sandbox tokens).
        self._client.leeway = int(lifetime * 0.15) if lifetime else 0

    async def _ensure_token(self, force: bool = False) -> None:
        async with self._token_lock:
            if self._client.token and not force:
                return
            try:
                token = await self._client.fetch_token(self.profile.token_url,
                                                       grant_type="client_credentials")
            except Exception as exc:  # authlib OAuthError, httpx2 errors, bad JSON
                self._token_error = (f"token request to {self.profile.token_url} failed: "
                                     f"{explain(exc, self.profile)}")
                raise TokenError(self._token_error) from None
            self._token_error = None
            self._adopt(token)

    async def token_state(self) -> TokenState:
        """Whether a valid token is held (fetching one if none yet), for the console header."""
        if self._client is None:
            return TokenState(valid=False, error="the caller is not open")
        try:
            await self._ensure_token()
        except TokenError as exc:
            return TokenState(valid=False, error=str(exc))
        expires_at = self._client.token.get("expires_at")
        remaining = None if expires_at is None else float(expires_at) - time.time()
        return TokenState(valid=remaining is None or remaining > 0, expires_in_s=remaining)

    # -- the call -------------------------------------------------------------------------------

    def to_curl(self, tx: Any) -> str:
        from console.caller.curl import to_curl

        return to_curl(tx)

    async def call(self, req: CallRequest) -> CallResult:
        """Send ``req`` as its operation's contracts say and record it; never raises for HTTP errors."""
        if self._client is None:
            raise CallerError("use the Caller as 'async with Caller(...) as caller'")
        op = self.catalogue.operation(req.path, req.method, req.action) if self.catalogue else None
        retry = op.contract("retry") if op else None
        sla = op.contract("latency-sla") if op else None
        policy = RetryPolicy(max_retries=int(retry.params.get("max_retries", 3)) if retry else 0,
                             base_s=self._retry_base_s, cap_s=self._retry_cap_s,
                             max_wait_s=self._max_wait_s, **({"rng": self._rng} if self._rng else {}))
        url, _ = build_url(self.profile.base_url, req)
        body, content_type = encode_body(req)
        trace_id, request_id = secrets.token_hex(16), str(uuid.uuid4())
        headers = {"Accept": req.accept or MEDIA[req.fmt], "X-Request-Id": request_id}
        if content_type:
            headers["Content-Type"] = content_type
        idempotency_key = None
        if req.method in NON_IDEMPOTENT_METHODS:
            key = req.idempotency_key or str(uuid.uuid4())
            idempotency_key = key if key.startswith('"') else f'"{key}"'
            headers["Idempotency-Key"] = idempotency_key
        headers.update(req.headers)
        logged_headers = {**redact_headers(headers), "Authorization": REDACTED}
        sla_ms = int(sla.params.get("max_ms", 1000)) if sla else None
        try:
            tx_id = await self.txlog.run(
                self.txlog.begin, method=req.method, path=req.path, action=req.action,
                version=req.version, fmt=req.fmt, url=url, record_id=req.record_id,
                request_headers=logged_headers, request_body=body_text(body),
                idempotency_key=idempotency_key, trace_id=trace_id, request_id=request_id,
                sla_ms=sla_ms, profile=self.profile.name, origin=self.origin)
        except LogUnavailable as exc:
            raise CallerError(f"{req.method} {req.path}?action={req.action} was not sent: a call "
                              f"is recorded before it leaves, and {exc}") from exc
        record = _CallRecord(self.txlog, tx_id)
        try:
            result = await self._attempts(record, req, op, policy, url, headers, body, trace_id)
        except BaseException as exc:  # cancelled task, Ctrl-C: the call's fate is unknown
            # A log that cannot take this either leaves the row pending: the next open marks it.
            with suppress(LogUnavailable):
                if record.unstored is not None and record.failure is None:
                    self.txlog.record_attempt(tx_id, record.unstored)
                self.txlog.mark_cancelled(tx_id, f"call abandoned: {type(exc).__name__}")
            raise
        result.transaction_id, result.url = tx_id, url
        result.sla_ms = sla_ms
        if sla_ms is not None and result.status is not None and 200 <= result.status < 300:
            result.sla_ok = result.attempts[-1].elapsed_ms <= sla_ms
        # The attempt that ended the call goes in with the outcome: one write, not two. The
        # request is not repeated: begin stored it, and redacting it again cost CPU for nothing.
        await record.write(self.txlog.finish, result, record.unstored)
        result.request_headers, result.request_body = logged_headers, body_text(body)
        if record.failure is not None:
            result.log_warning = _unrecorded_warning(record.failure, idempotency_key)
        return result

    async def _attempts(self, record: _CallRecord, req: CallRequest, op: Any, policy: RetryPolicy,
                        url: str, headers: dict[str, str], body: bytes | None,
                        trace_id: str) -> CallResult:
        rate = op.contract("rate-limit") if op else None
        attempts: list[Attempt] = []
        retries_used, reauthenticated, refused, exhausted = 0, False, False, False
        response: Any = None
        error: str | None = None
        began = time.perf_counter()
        while True:
            if rate is not None and self.budget is not None:
                try:
                    await self.budget.acquire(op.key, int(rate.params.get("limit", 1000)),
                                              float(rate.params.get("window_s", 60)),
                                              self._budget_wait_s)
                except BudgetRefused as exc:
                    refused, error = True, str(exc)
                    break
            response, error, attempt = await self._send(len(attempts) + 1, req.method, url,
                                                        headers, body, trace_id)
            attempts.append(attempt)
            # Kept until the next await (stored first) or the end (stored with the outcome).
            record.unstored = attempt
            status = attempt.status
            if status == 401 and not reauthenticated and error is None:
                reauthenticated = True  # Authlib does not re-fetch on 401: do it once ourselves
                await record.store_attempt()
                try:
                    await self._ensure_token(force=True)
                    continue
                except TokenError as exc:
                    error = str(exc)
                    break
            transient = policy.retryable(status, connection_error=bool(error and error.startswith("connection")))
            if not transient or policy.max_retries == 0:
                break
            if retries_used >= policy.max_retries:
                exhausted = True
                break
            wait = policy.backoff_s(retries_used + 1, attempt.retry_after_s)
            if wait > policy.max_wait_s:
                refused = True
                error = f"server asked to wait {wait:.0f} s (Retry-After), more than {policy.max_wait_s:g} s"
                break
            retries_used += 1
            await record.store_attempt()
            await asyncio.sleep(wait)
        return self._result(req, attempts, response, error, refused, exhausted, trace_id,
                            (time.perf_counter() - began) * 1000)

    async def _send(self, number: int, method: str, url: str, headers: dict[str, str],
                    body: bytes | None, trace_id: str) -> tuple[Any, str | None, Attempt]:
        import httpx2

        sent = {**headers, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
        started, t0 = time.time(), time.perf_counter()
        response, error = None, None
        try:
            await self._ensure_token()
            response = await self._client.request(method, url, headers=sent, content=body)
            await response.aread()
        except TokenError as exc:
            error = str(exc)
        except self._client.oauth_error_class as exc:  # Authlib's own re-fetch on expiry failed
            error = f"token refresh failed: {explain(exc, self.profile)}"
        except httpx2.HTTPError as exc:
            error = f"connection error: {explain(exc, self.profile)}"
        elapsed_ms = (time.perf_counter() - t0) * 1000
        attempt = Attempt(number=number, started_at=started, elapsed_ms=elapsed_ms,
                          status=response.status_code if response is not None else None,
                          error=error,
                          retry_after_s=parse_retry_after(response.headers.get("retry-after"))
                          if response is not None else None,
                          request_id=response.headers.get("x-request-id") if response is not None else None,
                          headers=redact_headers(dict(response.headers)) if response is not None else {})
        return response, error, attempt

    def _result(self, req: CallRequest, attempts: list[Attempt], response: Any,
                error: str | None, refused: bool, exhausted: bool, trace_id: str,
                elapsed_ms: float) -> CallResult:
        status = response.status_code if response is not None and attempts else None
        text = response.text if response is not None else ""
        content_type = response.headers.get("content-type") if response is not None else None
        rolled_back = says_rolled_back(text, content_type)
        outcome = classify(action=req.action, status=status, rolled_back=rolled_back,
                           exhausted=exhausted, refused=refused)
        response_headers = redact_headers(dict(response.headers)) if response is not None else {}
        if status is not None and status >= 400 and error is None:
            error = f"HTTP {status}"
        return CallResult(
            transaction_id="", outcome=outcome, status=status, attempts=attempts,
            rolled_back=rolled_back, event_id=response_headers.get("x-event-id"),
            elapsed_ms=elapsed_ms, sla_ms=None, sla_ok=None,
            request_id=response_headers.get("x-request-id") or (attempts[-1].request_id if attempts else None),
            trace_id=trace_id, response_headers=response_headers, response_body=text,
            request_headers={}, request_body=None, method=req.method, path=req.path,
            action=req.action, error=error)


class _CallRecord:
    """The log writes of one call after ``begin``.

    Once the request may have left, a failing write (disk full) must not turn the gateway's
    answer into a traceback: the failure is kept, later writes of the call are skipped (the
    row stays pending, and is settled as interrupted by the next open), and the caller warns.

    An attempt is stored before the call awaits anything else (a backoff, a new token), so a
    crash keeps every attempt made so far; the one that ends the call is still ``unstored``
    when the call finishes, and is stored with the outcome in the same transaction.
    """

    def __init__(self, txlog: TransactionLog, tx_id: str) -> None:
        self.txlog = txlog
        self.tx_id = tx_id
        self.failure: str | None = None
        self.unstored: Attempt | None = None

    async def store_attempt(self) -> None:
        if self.unstored is not None:
            attempt, self.unstored = self.unstored, None
            await self.write(self.txlog.record_attempt, attempt)

    async def write(self, method: Callable[..., object], *args: Any) -> None:
        if self.failure is not None:
            return
        try:
            await self.txlog.run(method, self.tx_id, *args)
        except LogUnavailable as exc:
            self.failure = str(exc)


def _unrecorded_warning(failure: str, idempotency_key: str | None) -> str:
    """One line: the log missed this call's end, and how to retry it without applying it twice."""
    retry = (f"; to retry it, send the header 'Idempotency-Key: {idempotency_key}' so the gateway "
             f"applies it once" if idempotency_key else "")
    return (f"warning: the transaction log could not record how this call ended ({failure}); "
            f"this output is its only record{retry}")


def explain(exc: BaseException, profile: Any = None) -> str:
    """One line for a failed request; a TLS failure names the host and the profile key to set."""
    text = str(exc) or type(exc).__name__
    described = f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
    try:
        host = exc.request.url.host  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx2 raises RuntimeError when no request is set
        host = "the gateway"
    where = f"[profiles.{profile.name}.tls]" if profile is not None else "the profile's [tls] table"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        if "match" in text.lower() or "hostname" in text.lower():
            return (f"TLS: the certificate of {host} is not for that name: use the host name "
                    f"the certificate names in base_url and token_url ({described})")
        return (f"TLS: the certificate of {host} is not signed by a CA this profile trusts: "
                f"set ca_file in {where} to the CA that issued it ({described})")
    if "CERTIFICATE_REQUIRED" in text or "certificate required" in text.lower():
        return (f"TLS: {host} asks for a client certificate: set client_cert and client_key in "
                f"{where} ({described})")
    return described
