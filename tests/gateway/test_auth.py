"""OAuth2 client credentials and RFC 9068 bearer tokens: real RSA keys, real joserfc tokens, the
token endpoint over httpx2's ASGI transport, and every forged token issue 3 names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx2
import pytest
from joserfc import jws, jwt
from starlette.applications import Starlette
from starlette.routing import Route

from console.gateway.auth import (
    ADMIN_SCOPE,
    ClientRegistry,
    KeyRing,
    TokenIssuer,
    all_scopes,
)
from console.gateway.problems import Problem

ISSUER, AUDIENCE = "http://127.0.0.1:8080", "apilog-gateway"
SECRET = "s3cret with spaces&:"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keyring():
    return KeyRing.generate(kid="k1")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def issuer(keyring, clock):
    clients = ClientRegistry()
    clients.register("ops", SECRET, ["customer:read", "customer:write", ADMIN_SCOPE])
    clients.register("reader", "r", ["invoice:read"])
    clients.register("curl", "a+b%2F", ["qos:read"])
    return TokenIssuer(keyring, ISSUER, AUDIENCE, 300, clients, clock=clock)


@pytest.fixture
async def client(issuer):
    app = Starlette(routes=[
        Route("/oauth/token", issuer.token_endpoint, methods=["POST"]),
        Route("/.well-known/jwks.json", issuer.jwks_endpoint),
    ])
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw") as http:
        yield http


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def good_claims(clock: Clock, **overrides) -> dict:
    now = int(clock.now)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "iat": now, "sub": "ops",
              "client_id": "ops", "jti": "j1", "scope": "customer:read"}
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def signed(keyring: KeyRing, claims: dict, **header) -> str:
    head = {"alg": "RS256", "typ": "at+jwt", "kid": keyring.signing_key.kid, **header}
    return jwt.encode(head, claims, keyring.signing_key, algorithms=["RS256"])


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# --- keys, clients, scopes ---------------------------------------------------------------------------

def test_jwks_is_public_only_and_names_the_key(keyring):
    (key,) = keyring.jwks()["keys"]
    assert key["kid"] == "k1" and key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) == 256  # RSA 2048


def test_rotation_keeps_old_tokens_valid(clock):
    ring = KeyRing.generate()
    issuer = TokenIssuer(ring, ISSUER, AUDIENCE, 60, ClientRegistry(), clock=clock)
    old = issuer.issue("ops", ["customer:read"])
    new_kid = ring.rotate()
    assert [key["kid"] for key in ring.jwks()["keys"]][0] == new_kid
    assert issuer.verify_bearer(f"Bearer {old}", "customer:read").client_id == "ops"
    assert jwt.decode(issuer.issue("ops", []), ring.signing_key).header["kid"] == new_kid


def test_client_registry_compares_secrets():
    clients = ClientRegistry()
    clients.register("a", "pw", ["x:read"])
    assert clients.authenticate("a", "pw")
    assert not clients.authenticate("a", "pW")
    assert not clients.authenticate("b", "pw")
    assert not clients.authenticate("a", "")
    assert clients.allowed_scopes("a") == ["x:read"] and clients.allowed_scopes("b") == []


def test_all_scopes():
    assert all_scopes(["customer", "qos"]) == [
        "customer:read", "customer:write", "qos:read", "qos:write", "gateway:admin"]


def test_sandbox_client_comes_from_the_environment_or_is_generated(monkeypatch):
    from console.gateway.settings import GatewaySettings

    generated = GatewaySettings(port=1).resolved()
    assert generated.client_id == "apilog-sandbox" and len(generated.client_secret) >= 24
    assert generated.secret_source == "generated at start"
    assert GatewaySettings(port=1).resolved().client_secret != generated.client_secret
    monkeypatch.setenv("APILOG_SANDBOX_CLIENT_ID", "me")
    monkeypatch.setenv("APILOG_SANDBOX_CLIENT_SECRET", "pw")
    from_env = GatewaySettings(port=1).resolved()
    assert (from_env.client_id, from_env.client_secret) == ("me", "pw")
    assert from_env.secret_source == "$APILOG_SANDBOX_CLIENT_SECRET"


async def test_create_app_fills_the_client_and_issuer_of_settings_given_a_url_secret_and_db(tmp_path):
    from console.gateway.app import create_app
    from console.gateway.settings import GatewaySettings

    app = create_app(GatewaySettings(base_url="http://gw.test/", client_secret="pw",
                                     db_path=tmp_path / "gateway.db"))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw") as http:
        response = await http.post("/oauth/token", content=b"grant_type=client_credentials",
                                   headers={**FORM, **basic("apilog-sandbox", "pw")})
    assert response.status_code == 200, response.text
    token = jwt.decode(response.json()["access_token"], app.state.gateway.keyring.signing_key,
                       algorithms=["RS256"])
    assert token.claims["iss"] == "http://gw.test" and token.claims["client_id"] == "apilog-sandbox"


# --- the token endpoint ------------------------------------------------------------------------------

async def test_basic_auth_without_scope_gets_every_allowed_scope_but_admin(client, issuer):
    response = await client.post("/oauth/token", content=b"grant_type=client_credentials",
                                 headers={**FORM, **basic("ops", "s3cret+with+spaces%26%3A")})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "customer:read customer:write"
    token = jwt.decode(body["access_token"], issuer.keyring.signing_key, algorithms=["RS256"])
    assert token.header == {"typ": "at+jwt", "alg": "RS256", "kid": "k1"}
    assert set(token.claims) == {"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope"}
    assert token.claims["exp"] - token.claims["iat"] == 300
    claims = issuer.verify_bearer(f"Bearer {body['access_token']}", "customer:write")
    assert claims.client_id == claims.sub == "ops" and not claims.has(ADMIN_SCOPE)


async def test_client_secret_post_with_a_scope_subset(client, issuer):
    response = await client.post("/oauth/token", headers=FORM, content=(
        b"grant_type=client_credentials&scope=customer%3Aread&client_id=ops&client_secret="
        b"s3cret%20with%20spaces%26%3A"))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "customer:read"
    token = response.json()["access_token"]
    with pytest.raises(Problem) as caught:
        issuer.verify_bearer(f"Bearer {token}", "customer:write")
    assert caught.value.status == 403


@pytest.mark.parametrize("sent", ["a%2Bb%252F", "a+b%2F"])
async def test_basic_secret_form_encoded_or_as_curl_sends_it(client, sent):
    response = await client.post("/oauth/token", content=b"grant_type=client_credentials",
                                 headers={**FORM, **basic("curl", sent)})
    assert response.status_code == 200, response.text


def test_jti_is_unique_per_token(issuer):
    claims = {jwt.decode(issuer.issue("ops", []), issuer.keyring.signing_key).claims["jti"] for _ in range(5)}
    assert len(claims) == 5


@pytest.mark.parametrize(("headers", "body", "status", "error"), [
    (basic("ops", "wrong"), "grant_type=client_credentials", 401, "invalid_client"),
    (basic("nobody", SECRET), "grant_type=client_credentials", 401, "invalid_client"),
    ({}, "grant_type=client_credentials", 401, "invalid_client"),
    ({}, "grant_type=client_credentials&client_id=ops", 401, "invalid_client"),
    ({"Authorization": "Basic !!!"}, "grant_type=client_credentials", 401, "invalid_client"),
    ({"Authorization": "Bearer x"}, "grant_type=client_credentials", 401, "invalid_client"),
    (basic("reader", "r"), "grant_type=password", 400, "unsupported_grant_type"),
    (basic("reader", "r"), "scope=invoice%3Aread", 400, "invalid_request"),
    (basic("reader", "r"), "grant_type=client_credentials&scope=invoice%3Awrite", 400, "invalid_scope"),
    (basic("reader", "r"), "grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"),
    (basic("reader", "r"), "grant_type=client_credentials&client_secret=r", 400, "invalid_request"),
    (basic("reader", "r"), "grant_type=client_credentials&client_id=ops", 400, "invalid_request"),
])
async def test_token_errors_follow_rfc6749(client, headers, body, status, error):
    response = await client.post("/oauth/token", content=body.encode(), headers={**FORM, **headers})
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert response.headers["www-authenticate"] == 'Basic realm="apilog"'
    assert SECRET not in response.text


async def test_token_request_must_be_a_form(client):
    response = await client.post("/oauth/token", json={"grant_type": "client_credentials"},
                                 headers=basic("reader", "r"))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    response = await client.post("/oauth/token", content=b"x" * 20000, headers={**FORM, **basic("reader", "r")})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_an_oversized_token_request_is_refused_without_reading_it_all(client):
    """A chunked body (no Content-Length) is cut off once past the form limit, not buffered."""
    pulled = 0

    async def endless_form():
        nonlocal pulled
        for _ in range(1024):
            pulled += 1
            yield b"scope=" + b"a" * 16_378

    response = await client.post("/oauth/token", content=endless_form(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and "larger than" in response.text
    assert pulled <= 3, f"the endpoint read {pulled} chunks of 16 KB before refusing"


async def test_jwks_endpoint(client, keyring):
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and response.json() == keyring.jwks()


# --- bearer verification: every rejection of issue 3 -------------------------------------------------

def rejection(issuer: TokenIssuer, authorization: str | None, scope: str | None = None) -> Problem:
    with pytest.raises(Problem) as caught:
        issuer.verify_bearer(authorization, scope)
    return caught.value


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_no_token_is_a_bare_bearer_challenge(issuer, authorization):
    problem = rejection(issuer, authorization)
    assert problem.status == 401
    assert problem.headers["WWW-Authenticate"] == 'Bearer realm="apilog"'


def test_another_scheme_is_a_bare_bearer_challenge(issuer):
    problem = rejection(issuer, "Basic b3BzOnB3")
    assert (problem.status, problem.headers["WWW-Authenticate"]) == (401, 'Bearer realm="apilog"')


def test_the_scheme_is_named_only_when_it_is_a_known_one(issuer):
    assert "'Digest' scheme" in rejection(issuer, "Digest username=x").detail
    assert "s3cret" not in rejection(issuer, "s3cret-value-without-a-scheme").detail
    assert "s3cret" not in rejection(issuer, "s3cret-value with-a-space").detail


def test_a_good_token_passes_and_scheme_is_case_insensitive(issuer, keyring, clock):
    claims = issuer.verify_bearer("bearer " + signed(keyring, good_claims(clock)), "customer:read")
    assert claims.scopes == frozenset({"customer:read"}) and claims.jti == "j1"
    assert issuer.verify_bearer("Bearer " + signed(keyring, good_claims(clock), typ="application/at+jwt"))


def hs256_with_public_key(keyring: KeyRing, clock: Clock) -> str:
    header = {"alg": "HS256", "typ": "at+jwt", "kid": keyring.signing_key.kid}
    unsigned = forge(header, good_claims(clock)).rsplit(".", 1)[0]
    public_pem = keyring.signing_key.as_pem(private=False)
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64(signature)}"


def bad_signature(keyring: KeyRing, clock: Clock) -> str:
    other = KeyRing.generate(kid=keyring.signing_key.kid)
    return signed(other, good_claims(clock))


def tampered(keyring: KeyRing, clock: Clock) -> str:
    header, _, signature = signed(keyring, good_claims(clock)).split(".")
    payload = b64(json.dumps(good_claims(clock, scope="customer:read gateway:admin")).encode())
    return f"{header}.{payload}.{signature}"


FORGERIES = {
    "alg none": (lambda ring, clock: forge({"alg": "none", "typ": "at+jwt", "kid": "k1"}, good_claims(clock)), "alg"),
    "alg none, no typ": (lambda ring, clock: forge({"alg": "none"}, good_claims(clock)), "alg"),
    "HS256 with the public key": (hs256_with_public_key, "alg"),
    "typ JWT": (lambda ring, clock: signed(ring, good_claims(clock), typ="JWT"), "typ"),
    "no typ": (lambda ring, clock: jwt.encode({"alg": "RS256", "kid": "k1"}, good_claims(clock), ring.signing_key, default_type=None), "typ"),
    "wrong iss": (lambda ring, clock: signed(ring, good_claims(clock, iss="https://evil")), "iss"),
    "wrong aud": (lambda ring, clock: signed(ring, good_claims(clock, aud="other-api")), "aud"),
    "aud list without us": (lambda ring, clock: signed(ring, good_claims(clock, aud=["a", "b"])), "aud"),
    "bad signature": (bad_signature, "signature"),
    "tampered payload": (tampered, "signature"),
    "expired": (lambda ring, clock: signed(ring, good_claims(clock, exp=int(clock.now) - 1)), "expired"),
    "exp not a number": (lambda ring, clock: signed(ring, good_claims(clock, exp="tomorrow")), "exp"),
    "no exp": (lambda ring, clock: signed(ring, good_claims(clock, exp=None)), "exp"),
    "no client_id": (lambda ring, clock: signed(ring, good_claims(clock, client_id=None)), "client_id"),
    "issued in the future": (lambda ring, clock: signed(ring, good_claims(clock, iat=int(clock.now) + 3600)), "iat"),
    "not yet valid": (lambda ring, clock: signed(ring, good_claims(clock, nbf=int(clock.now) + 3600)), "nbf"),
    "scope not a string": (lambda ring, clock: signed(ring, good_claims(clock, scope=["customer:read"])), "scope"),
    "unknown kid": (lambda ring, clock: signed(ring, good_claims(clock), kid="nope"), "kid"),
    "crit header": (lambda ring, clock: forge({"alg": "RS256", "typ": "at+jwt", "kid": "k1", "crit": ["x"], "x": 1}, good_claims(clock), b"sig"), "critical"),
    "not a JWT": (lambda ring, clock: "hello", "three"),
    "three junk parts": (lambda ring, clock: "a.b.c", "malformed"),
    "header not JSON": (lambda ring, clock: f"{b64(b'[1,2')}.{b64(b'{}')}.", "malformed"),
    "header a list": (lambda ring, clock: f"{b64(b'[1]')}.{b64(b'{}')}.", "malformed"),
    "claims not JSON": (lambda ring, clock: jws.serialize_compact({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}, b"{not json", ring.signing_key), "malformed"),
    "claims a list": (lambda ring, clock: jws.serialize_compact({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}, b"[1]", ring.signing_key), "malformed"),
    "non-ASCII": (lambda ring, clock: "é.é.é", "malformed"),
    "huge": (lambda ring, clock: "a" * 9000 + ".b.c", "three"),
    "huge non-ASCII alg": (lambda ring, clock: forge({"alg": "é\"" * 300}, good_claims(clock)), ""),
    "empty": (lambda ring, clock: "", "empty"),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forged_and_broken_tokens_are_401_invalid_token(issuer, keyring, clock, name):
    make, mentions = FORGERIES[name]
    problem = rejection(issuer, f"Bearer {make(keyring, clock)}", "customer:read")
    assert problem.status == 401
    challenge = problem.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="apilog", error="invalid_token", error_description="')
    description = challenge.split('error_description="', 1)[1]
    assert description.endswith('"') and '"' not in description[:-1]
    assert challenge.isascii() and len(challenge) < 300
    assert mentions in problem.detail
    assert problem.extensions["error"] == "invalid_token"


def test_a_token_expires_when_the_clock_passes_exp(issuer, clock):
    token = issuer.issue("ops", ["customer:read"])
    assert issuer.verify_bearer(f"Bearer {token}", "customer:read")
    clock.now += 301
    assert "expired" in rejection(issuer, f"Bearer {token}", "customer:read").detail


def test_missing_scope_is_403_insufficient_scope(issuer):
    token = issuer.issue("reader", ["invoice:read"])
    problem = rejection(issuer, f"Bearer {token}", "invoice:write")
    assert problem.status == 403
    assert problem.headers["WWW-Authenticate"] == (
        'Bearer realm="apilog", error="insufficient_scope", scope="invoice:write"')
    assert problem.to_dict()["scope"] == "invoice:write"


@pytest.mark.parametrize(("issuer_url", "audience", "ttl_s"), [(None, "a", 60), ("", "a", 60), ("i", "", 60), ("i", "a", 0)])
def test_an_issuer_that_would_refuse_every_token_is_not_built(keyring, issuer_url, audience, ttl_s):
    with pytest.raises(ValueError):
        TokenIssuer(keyring, issuer_url, audience, ttl_s, ClientRegistry())


def test_an_invalid_token_problem_says_what_to_do_and_the_challenge_stays_short(issuer):
    problem = rejection(issuer, "Bearer a.b.c")
    assert "malformed" in problem.detail and "POST /oauth/token" in problem.detail
    challenge = problem.headers["WWW-Authenticate"]
    assert 'error_description="the token is malformed"' in challenge
