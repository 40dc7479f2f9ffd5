"""OAuth2 on the assembled gateway, over real HTTP: every forged or broken token is a 401 challenge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx2
import pytest

OP = ("/ivr/callflow", "check-status")  # PUT, scope ivr:read


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(gateway, **changes):
    now = int(time.time())
    claims = {"iss": gateway.settings.issuer, "aud": gateway.settings.audience, "sub": gateway.client_id,
              "client_id": gateway.client_id, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
              "scope": "ivr:read ivr:write"}
    claims.update(changes)
    return claims


def _signed(gateway, claims, *, header=None, key=None):
    from joserfc import jwt

    signing = key or gateway.gateway.keyring.signing_key
    head = {"typ": "at+jwt", "alg": "RS256", "kid": gateway.gateway.keyring.signing_key.kid}
    head.update(header or {})
    return jwt.encode(head, claims, signing, algorithms=["RS256"])


def _call(gateway, token):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx2.put(f"{gateway.base_url}{OP[0]}", params={"action": OP[1]}, headers=headers, timeout=10)


def _forged_tokens(gateway):
    from joserfc.jwk import RSAKey

    public = gateway.gateway.keyring.jwks()["keys"][0]
    kid = public["kid"]
    claims = _claims(gateway)
    body = _b64(json.dumps(claims).encode())
    # alg none: no signature at all
    none_token = f"{_b64(json.dumps({'alg': 'none', 'typ': 'at+jwt', 'kid': kid}).encode())}.{body}."
    # HS256 "signed" with the public key as the HMAC secret (the classic key-confusion attack)
    from joserfc.jwk import import_key

    pem = import_key(public, "RSA").as_pem(private=False)
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid}).encode())}.{body}"
    hs_sig = _b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    other_key = RSAKey.generate_key(2048, parameters={"kid": kid})
    return {
        "alg none": none_token,
        "HS256 with the public key": f"{signing_input}.{hs_sig}",
        "bad signature": _signed(gateway, claims, key=other_key),
        "wrong typ": _signed(gateway, claims, header={"typ": "JWT"}),
        "wrong iss": _signed(gateway, _claims(gateway, iss="https://evil.example")),
        "wrong aud": _signed(gateway, _claims(gateway, aud="someone-else")),
        "expired": _signed(gateway, _claims(gateway, iat=int(time.time()) - 7200,
                                            exp=int(time.time()) - 3600)),
        "unknown kid": _signed(gateway, claims, header={"kid": "nope"}),
        "garbage": "not.a.jwt",
        "truncated": _signed(gateway, claims)[:-10],
    }


def test_valid_token_is_accepted(gateway):
    assert _call(gateway, _signed(gateway, _claims(gateway))).status_code == 200


def test_no_token_is_401_with_bearer_challenge(gateway):
    response = _call(gateway, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="apilog"'
    assert response.headers["content-type"] == "application/problem+json"


def test_every_forged_or_broken_token_is_401_invalid_token(gateway):
    failures = {}
    for name, token in _forged_tokens(gateway).items():
        response = _call(gateway, token)
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code != 401 or 'error="invalid_token"' not in challenge:
            failures[name] = (response.status_code, challenge, response.text[:200])
    assert not failures


def test_missing_scope_is_403_insufficient_scope(gateway, gateway_token):
    token = gateway_token(gateway, scopes=["customer:read"])
    response = _call(gateway, token)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="ivr:read"' in response.headers["www-authenticate"]


def test_write_needs_write_scope(gateway, gateway_token):
    token = gateway_token(gateway, scopes=["firewall:read"])
    response = httpx2.put(f"{gateway.base_url}/security/firewall/config", params={"action": "add-record"},
                          json={}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 403


def test_token_endpoint_basic_and_post_auth(gateway):
    basic = httpx2.post(gateway.token_url, data={"grant_type": "client_credentials"},
                        auth=(gateway.client_id, gateway.client_secret), timeout=10)
    assert basic.status_code == 200
    assert basic.headers["cache-control"] == "no-store"
    body = basic.json()
    assert body["token_type"] == "Bearer" and "gateway:admin" not in body["scope"].split()
    posted = httpx2.post(gateway.token_url, data={"grant_type": "client_credentials", "client_id": gateway.client_id,
                                                  "client_secret": gateway.client_secret, "scope": "qos:read"},
                         timeout=10)
    assert posted.status_code == 200 and posted.json()["scope"] == "qos:read"


@pytest.mark.parametrize("secret", ["wrong", ""])
def test_token_endpoint_wrong_secret_is_invalid_client(gateway, secret):
    response = httpx2.post(gateway.token_url, data={"grant_type": "client_credentials"},
                           auth=(gateway.client_id, secret), timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_a_remembered_token_still_needs_each_operations_scope(gateway, gateway_token):
    token = gateway_token(gateway, scopes=["ivr:read"])
    assert _call(gateway, token).status_code == 200  # verified once, now remembered
    assert _call(gateway, token).status_code == 200
    write = httpx2.put(f"{gateway.base_url}/ivr/callflow", params={"action": "update-config"},
                       json={"k": 1}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert write.status_code == 403
    assert 'scope="ivr:write"' in write.headers["www-authenticate"]


def test_a_remembered_tokens_signature_vouches_for_nothing_else(gateway):
    token = _signed(gateway, _claims(gateway, scope="ivr:read"))
    assert _call(gateway, token).status_code == 200  # verified once, now remembered
    head, _claims_part, signature = token.split(".")
    wider = _b64(json.dumps(_claims(gateway, scope="ivr:read ivr:write gateway:admin", sub="intruder")).encode())
    response = _call(gateway, f"{head}.{wider}.{signature}")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.slow  # waits for the token's exp, ~3 s
def test_a_remembered_token_is_refused_once_it_expires(gateway):
    from tests.support.broker import wait_until

    token = _signed(gateway, _claims(gateway, exp=int(time.time()) + 2))
    assert _call(gateway, token).status_code == 200  # remembered until its exp
    wait_until(lambda: _call(gateway, token).status_code == 401, timeout=20,
               message="the remembered token to be refused after its exp")
