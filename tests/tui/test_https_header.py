"""The console's header tells the truth about an HTTPS gateway: up through the profile's CA,
down with the reason (and the key to set) when the certificate cannot be trusted."""

from __future__ import annotations

import pytest

from tests.tui.conftest import settle, wait_for


@pytest.mark.parametrize("trusted", [True, False])
async def test_header_state_over_https(make_app, catalogue, tls_gateway, tmp_path, trusted):
    from console.config import HttpTls, Profile
    from console.session import Session

    gw, files = tls_gateway
    ca = files.ca if trusted else files.stranger_ca
    profile = Profile(name="secure", base_url=gw.base_url, token_url=gw.token_url,
                      client_id=gw.client_id, client_secret=gw.client_secret,
                      tls=HttpTls(ca_file=str(ca)))
    app = make_app(session=Session(profile, catalogue, log_path=tmp_path / "tx.db", origin="console"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        state = await wait_for(pilot, lambda: app.connection.gateway in ("up", "down") and app.connection,
                               message="the gateway's state in the header")
        if trusted:
            assert state.gateway == "up"
            await wait_for(pilot, lambda: app.connection.token_expires_at is not None,
                           message="a token through the profile's CA")
        else:
            assert state.gateway == "down"
            assert "TLS: the certificate of 127.0.0.1 is not signed" in state.gateway_error
            assert "[profiles.secure.tls]" in state.gateway_error
