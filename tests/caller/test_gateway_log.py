"""The session reads the gateway's own log record of a call, or says in one line why not."""

from __future__ import annotations

import pytest

from console.caller import CallRequest
from console.config import Profile
from console.session import Session, SessionError
from tests.support.gateway import start_gateway

pytestmark = pytest.mark.slow


@pytest.fixture
def gw(tmp_path):
    gateway = start_gateway(db_path=tmp_path / "gateway.db")
    yield gateway
    gateway.server.stop()


def profile_for(gw, client_id: str, secret: str) -> Profile:
    return Profile(name="test", base_url=gw.base_url, token_url=gw.token_url,
                   client_id=client_id, client_secret=secret)


async def test_the_log_record_of_a_call(gw, catalogue, tmp_path):
    session = Session(profile_for(gw, gw.client_id, gw.client_secret), catalogue,
                      log_path=tmp_path / "tx.db")
    async with session:
        result = await session.call(CallRequest("/customer/update", "GET", "check-status"))
        record = await session.gateway_log(result.request_id)
    assert record["request"]["method"] == "GET"
    assert record["response"]["status"] == result.status
    with pytest.raises(SessionError, match="no log record of request nope"):
        async with session:
            await session.gateway_log("nope")
