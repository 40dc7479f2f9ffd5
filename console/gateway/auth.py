"""OAuth2 client credentials (RFC 6749 §4.4) and RFC 9068 access tokens, issued and checked.

Tokens are RS256 JWTs made with joserfc. Verification is deliberately narrow: RS256 only, a
known ``kid``, ``typ: at+jwt``, the right ``iss`` and ``aud``, a future ``exp``. Everything a
client can get wrong with a token ends in a 401 with the RFC 6750 challenge, never a 500.
Client secrets and tokens never appear in a message this module produces.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from console.gateway.negotiation import read_body
from console.gateway.problems import Problem

REALM = "apilog"
ALGORITHM = "RS256"
ADMIN_SCOPE = "gateway:admin"
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")

_MAX_TOKEN_CHARS = 8192
_MAX_FORM_BYTES = 16384
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_UNSAFE_IN_QUOTES = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
#: HTTP authentication schemes (IANA registry, plus common vendor ones) an error may name. Any
#: other first word of an Authorization header may be a bare credential, and an error detail
#: reaches the access log, so it is never echoed.
_KNOWN_SCHEMES = frozenset({
    "basic", "bearer", "digest", "dpop", "gnap", "hoba", "mutual", "negotiate", "ntlm",
    "oauth", "privatetoken", "scram-sha-1", "scram-sha-256", "vapid", "aws4-hmac-sha256",
    "token", "apikey",
})


def all_scopes(domains: Iterable[str]) -> list[str]:
    """Every scope the gateway knows: ``<domain>:read``, ``<domain>:write``, ``gateway:admin``."""
    scopes = []
    for domain in domains:
        scopes += [f"{domain}:read", f"{domain}:write"]
    return [*scopes, ADMIN_SCOPE]


class KeyRing:
    """The gateway's RSA signing keys. The newest signs; every key still verifies (rotation)."""

    def __init__(self, keys: list[RSAKey]) -> None:
        if not keys:
            raise ValueError("a KeyRing needs at least one key")
        self._keys = list(keys)

    @classmethod
    def generate(cls, kid: str | None = None) -> KeyRing:
        """A ring holding one fresh RSA 2048 key, ``kid`` random unless given."""
        return cls([_new_key(kid)])

    def rotate(self, kid: str | None = None) -> str:
        """Add a new signing key; tokens signed by the older ones stay valid. Returns its kid."""
        key = _new_key(kid)
        assert key.kid is not None, "_new_key always names its key"
        self._keys.append(key)
        return key.kid

    @property
    def signing_key(self) -> RSAKey:
        return self._keys[-1]

    def key_for(self, kid: object) -> RSAKey | None:
        """The key named by a token's ``kid`` header, or ``None``."""
        return next((key for key in self._keys if isinstance(kid, str) and key.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        """The public JSON Web Key Set served at ``/.well-known/jwks.json`` (no private part)."""
        keys = []
        for key in reversed(self._keys):
            public = dict(key.as_dict(private=False))
            public.update(use="sig", alg=ALGORITHM)
            keys.append(public)
        return {"keys": keys}


def _new_key(kid: str | None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or uuid.uuid4().hex[:16]}, private=True)


@dataclass
class _Client:
    secret: bytes
    scopes: tuple[str, ...]


class ClientRegistry:
    """Confidential clients: id → secret (compared in constant time) and allowed scopes."""

    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}

    def register(self, client_id: str, secret: str, scopes: Iterable[str]) -> None:
        self._clients[client_id] = _Client(secret.encode("utf-8"), tuple(dict.fromkeys(scopes)))

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def authenticate(self, client_id: str, secret: str) -> bool:
        """Whether ``secret`` is this client's; an unknown id costs the same comparison."""
        client = self._clients.get(client_id)
        expected = client.secret if client else b"\x00" * 32
        matches = hmac.compare_digest(expected, secret.encode("utf-8", "surrogatepass"))
        return client is not None and matches

    def allowed_scopes(self, client_id: str) -> list[str]:
        client = self._clients.get(client_id)
        return list(client.scopes) if client else []


@dataclass(frozen=True)
class Claims:
    """A verified access token's claims."""

    sub: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    issued_at: int
    expires_at: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class OAuthError(Exception):
    """An RFC 6749 §5.2 error of the token endpoint (``retry_after`` seconds for a 429)."""

    def __init__(self, error: str, description: str, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after


class AuthThrottle:
    """Failed client authentications per client id, and the backoff they earn.

    After :attr:`free` failures (a typo, a rotated secret) the client id is shut out for
    :attr:`base_s`, and each further failure doubles that, up to :attr:`max_s`. While shut out every attempt, right secret or not, answers 429: otherwise a
    guesser would still learn, at full speed, which secret is right. A success clears the count;
    so does :attr:`forget_s` without a failure. At most :attr:`capacity` client ids are tracked.
    """

    free = 5
    base_s = 1.0
    max_s = 300.0
    forget_s = 900.0
    capacity = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: client id -> (failures, time of the last failure, shut out until)
        self._failures: OrderedDict[str, tuple[int, float, float]] = OrderedDict()

    def wait_s(self, client_id: str) -> float:
        """Seconds until ``client_id`` may try again (0 when it may now)."""
        entry = self._failures.get(client_id)
        return max(0.0, entry[2] - self._clock()) if entry else 0.0

    def failed(self, client_id: str) -> None:
        now = self._clock()
        count, last, _ = self._failures.pop(client_id, (0, now, 0.0))
        if now - last > self.forget_s:
            count = 0
        count += 1
        until = now + min(self.max_s, self.base_s * 2 ** (count - self.free)) if count >= self.free else 0.0
        self._failures[client_id] = (count, now, until)
        while len(self._failures) > self.capacity:
            self._failures.popitem(last=False)

    def succeeded(self, client_id: str) -> None:
        self._failures.pop(client_id, None)


class TokenIssuer:
    """The authorization server and the resource server's token check, sharing one key ring."""

    def __init__(
        self,
        keyring: KeyRing,
        issuer: str,
        audience: str,
        ttl_s: int,
        clients: ClientRegistry,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("issuer", issuer), ("audience", audience)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"TokenIssuer needs a non-empty {name}, not {value!r}: every token would be refused")
        if ttl_s <= 0:
            raise ValueError(f"TokenIssuer needs a positive ttl_s, not {ttl_s}")
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self.clients = clients
        self._clock = clock
        self.throttle = AuthThrottle()

    # --- issuing ---------------------------------------------------------------------------------

    def issue(self, client_id: str, scopes: Iterable[str]) -> str:
        """A signed RFC 9068 access token for ``client_id`` carrying ``scopes``."""
        now = int(self._clock())
        key = self.keyring.signing_key
        claims = {
            "iss": self.issuer, "exp": now + self.ttl_s, "aud": self.audience, "sub": client_id,
            "client_id": client_id, "iat": now, "jti": uuid.uuid4().hex, "scope": " ".join(scopes),
        }
        header = {"typ": "at+jwt", "alg": ALGORITHM, "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    async def token_endpoint(self, request: Request) -> Response:
        """``POST /oauth/token`` for the client credentials grant."""
        try:
            form = _read_form(request.headers.get("content-type"), await _read_limited(request))
            client_id = self._authenticate(request.headers.get("authorization"), form)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is missing: send grant_type=client_credentials")
            if grant_type != "client_credentials":
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not served: use client_credentials")
            scopes = self._granted_scopes(client_id, form.get("scope"))
        except OAuthError as exc:
            headers = dict(_NO_STORE)
            if exc.status == 401:
                headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
            if exc.retry_after is not None:
                headers["Retry-After"] = str(exc.retry_after)
            body: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
            return JSONResponse(body, status_code=exc.status, headers=headers)
        body = {
            "access_token": self.issue(client_id, scopes), "token_type": "Bearer",
            "expires_in": self.ttl_s, "scope": " ".join(scopes),
        }
        return JSONResponse(body, headers=dict(_NO_STORE))

    async def jwks_endpoint(self, request: Request) -> Response:
        """``GET /.well-known/jwks.json``: the public keys, cacheable for a while."""
        return JSONResponse(self.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})

    def _authenticate(self, authorization: str | None, form: dict[str, str]) -> str:
        basic = _basic_credentials(authorization)
        candidates: tuple[str, ...]  # HTTP Basic gives two (decoded, as sent); the form gives one
        if basic and "client_secret" in form:
            raise OAuthError("invalid_request", "use one client authentication method: HTTP Basic or client_secret in the form, not both")
        if basic:
            if "client_id" in form and form["client_id"] != basic[0]:
                raise OAuthError("invalid_request", "client_id in the form differs from the HTTP Basic user")
            client_id, candidates = basic[0], basic[1:]
        elif "client_id" in form and "client_secret" in form:
            client_id, candidates = form["client_id"], (form["client_secret"],)
        else:
            raise OAuthError("invalid_client", "no client authentication: send HTTP Basic client_id:client_secret", 401)
        key = client_id[:200]  # the throttle's memory is bounded by count, and so by key size
        wait = self.throttle.wait_s(key)
        if wait > 0:
            seconds = math.ceil(wait)
            raise OAuthError("temporarily_unavailable",
                             f"too many failed authentications for this client: wait {seconds} s "
                             "(Retry-After), then send the right client secret", 429, retry_after=seconds)
        if not any([self.clients.authenticate(client_id, secret) for secret in candidates]):
            self.throttle.failed(key)
            raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
        self.throttle.succeeded(key)
        return client_id

    def _granted_scopes(self, client_id: str, requested: str | None) -> list[str]:
        allowed = self.clients.allowed_scopes(client_id)
        wanted = list(dict.fromkeys((requested or "").split()))
        if not wanted:  # absent, empty or blank: the default set, which admin is never part of
            return [scope for scope in allowed if scope != ADMIN_SCOPE]
        refused = [scope for scope in wanted if scope not in allowed]
        if refused:
            raise OAuthError("invalid_scope", f"scope not allowed for this client: {' '.join(refused)}")
        return wanted

    # --- verifying -------------------------------------------------------------------------------

    def verify_bearer(self, authorization: str | None, required_scope: str | None = None) -> Claims:
        """The claims of a valid bearer token holding ``required_scope``, else a 401/403 Problem
        with the RFC 6750 ``WWW-Authenticate`` challenge."""
        if not authorization or not authorization.strip():
            raise _unauthorized("no access token: send Authorization: Bearer <token> from POST /oauth/token")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise _unauthorized(f"Authorization uses {_scheme_name(scheme)}: send Authorization: Bearer <token>")
        claims = self._decode(token.strip())
        if required_scope and not claims.has(required_scope):
            raise Problem(
                403, "Forbidden", f"the token lacks the scope {required_scope}; request it from POST /oauth/token",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{required_scope}"'},
                error="insufficient_scope", scope=required_scope,
            )
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            return self._checked_claims(token)
        except Problem:
            raise
        except Exception:  # untrusted bytes into a parser: whatever breaks is the token's fault, not a 500
            raise _invalid_token("the token is malformed") from None

    def _checked_claims(self, token: str) -> Claims:
        if not token:
            raise _invalid_token("the bearer token is empty")
        if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 2:
            raise _invalid_token("the token is not a compact JWS (three dot-separated parts)")
        header = jws.extract_compact(token.encode("ascii")).headers()
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise _invalid_token(f"alg {str(algorithm)[:20]!r} is not accepted: tokens must be signed {ALGORITHM}")
        if not isinstance(header.get("typ"), str) or header["typ"].lower() not in ACCESS_TOKEN_TYPES:
            raise _invalid_token("typ must be at+jwt (RFC 9068 access token)")
        if "crit" in header:
            raise _invalid_token("critical header parameters are not understood")
        key = self.keyring.key_for(header.get("kid"))
        if key is None:
            raise _invalid_token("the token names an unknown signing key (kid)")
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError:
            raise _invalid_token("the signature does not verify") from None
        claims = decoded.claims
        essential: jwt.ClaimsOption = {"essential": True}
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp=essential, iat=essential, sub=essential, jti=essential,
            client_id=essential,
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise _invalid_token("the token has expired") from None
        except MissingClaimError as exc:
            raise _invalid_token(f"the token lacks the claim {exc.claim}") from None
        except JoseError as exc:
            raise _invalid_token(f"the claim {getattr(exc, 'claim', '?')} is not valid here") from None
        scope = claims.get("scope", "")
        if not isinstance(scope, str) or not isinstance(claims["client_id"], str):
            raise _invalid_token("scope and client_id must be strings")
        return Claims(
            sub=claims["sub"], client_id=claims["client_id"], scopes=frozenset(scope.split()),
            jti=claims["jti"], issued_at=int(claims["iat"]), expires_at=int(claims["exp"]), raw=claims,
        )


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})


def _invalid_token(description: str) -> Problem:
    """401 ``invalid_token``: the challenge says what is wrong, the detail also what to do."""
    quoted = _UNSAFE_IN_QUOTES.sub("'", description)[:200]
    challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{quoted}"'
    detail = f"{description}; get a new token from POST /oauth/token and send it unchanged"
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge},
                   error="invalid_token")


def _scheme_name(scheme: str) -> str:
    """``the 'Digest' scheme`` for a known scheme; a vaguer phrase for anything that may be a secret."""
    if scheme.lower() in _KNOWN_SCHEMES:
        return f"the {scheme!r} scheme"
    return "an unknown scheme (or a credential without one)"


async def _read_limited(request: Request) -> bytes:
    """The form, refused as soon as it passes ``_MAX_FORM_BYTES``, not after buffering it all."""
    try:
        return await read_body(request, _MAX_FORM_BYTES)
    except Problem:
        raise OAuthError("invalid_request", f"the token request is larger than {_MAX_FORM_BYTES} bytes") from None


def _read_form(content_type: str | None, raw: bytes) -> dict[str, str]:
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send the token request as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form is not UTF-8 application/x-www-form-urlencoded") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"the parameter {name[:40]!r} appears more than once")
        form[name] = value
    return form


def _basic_credentials(authorization: str | None) -> tuple[str, str, str] | None:
    """``(client_id, secret, secret as sent)`` from an HTTP Basic header.

    RFC 6749 §2.3.1 form-encodes both parts, but ``curl -u id:secret`` does not, so a secret
    holding ``+`` or ``%`` is tried both decoded and as sent.
    """
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", f"client authentication must use HTTP Basic, not {_scheme_name(scheme)}", 401)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "the HTTP Basic credentials are not base64 of client_id:client_secret", 401) from None
    if ":" not in decoded:
        raise OAuthError("invalid_client", "the HTTP Basic credentials are not client_id:client_secret", 401)
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret), secret
