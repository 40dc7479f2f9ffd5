"""Shared redaction helpers, and the bulk path of the log (same redaction, same reads)."""

from __future__ import annotations

import time

from console.caller.model import Attempt
from console.redact import REDACTED, redact_headers, redact_text
from console.txlog import Transaction, TransactionLog, new_transaction_id
from tests.support.txlog import db_bytes

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_headers_that_carry_credentials_are_replaced_whole():
    out = redact_headers({"Authorization": "Bearer abc", "Cookie": "a=b", "Accept": "text/plain",
                          "X-Partner": "p-1234567"}, keys=["x-partner"])
    assert out == {"Authorization": REDACTED, "Cookie": REDACTED, "Accept": "text/plain",
                   "X-Partner": REDACTED}
    assert redact_headers([("X-Note", f"see {JWT}")]) == {"X-Note": f"see {REDACTED}"}


def test_text_forms():
    assert redact_text('{"client_secret": "abc\\"def", "name": "x"}') == \
        '{"client_secret": "REDACTED", "name": "x"}'
    assert redact_text("grant_type=client_credentials&client_secret=s3&scope=a") == \
        "grant_type=client_credentials&client_secret=REDACTED&scope=a"
    assert redact_text("<password>hunter2</password>") == "<password>REDACTED</password>"
    assert redact_text("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer REDACTED"
    assert redact_text(f"jwt {JWT} end") == "jwt REDACTED end"
    assert redact_text("my plain text", secrets=["plain"]) == "my REDACTED text"
    assert redact_text('{"partnerKey": "v"}', keys=["partnerKey"]) == '{"partnerKey": "REDACTED"}'
    assert redact_text("nothing to hide here") == "nothing to hide here"
    assert redact_text(None) == ""


def test_bulk_insert_redacts_and_reads_back(tmp_path):
    path = tmp_path / "bulk.db"
    log = TransactionLog(path, secrets=["bulk-secret-42"])
    now = time.time()
    rows = [Transaction(id=new_transaction_id(now + i), started_at=now + i, method="POST",
                        path="/customer/update", action="add-record", outcome="committed",
                        status=201, attempt_count=2, url="http://gw/customer/update",
                        request_headers={"Authorization": f"Bearer {JWT}"},
                        request_body=f'{{"note": "bulk-secret-42 row{i}"}}',
                        attempts=[Attempt(1, now, 1.0, 503), Attempt(2, now, 1.0, 201)])
            for i in range(12)]
    assert log.insert_many(iter(rows), batch_size=5) == 12
    assert log.count() == 12 and [t.id for t in log.query(text="row3")] == [rows[3].id]
    stored = log.get(rows[0].id)
    assert [a.status for a in stored.attempts] == [503, 201]
    assert stored.request_headers == {"Authorization": REDACTED}
    page = log.query(limit=3, with_attempts=True)
    assert [len(t.attempts) for t in page] == [2, 2, 2]
    log.close()
    data = db_bytes(path)
    assert b"bulk-secret-42" not in data and JWT.encode() not in data


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_secret = st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and s not in REDACTED
                                                   and REDACTED not in s and len(set(s)) > 3)
_key = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(secret=_secret, key=_key, filler=st.text(max_size=30))
def test_a_registered_secret_never_survives_in_any_body_shape(secret, key, filler):
    import json

    bodies = [json.dumps({key: secret, "n": filler}), json.dumps({key: f"{filler}{secret}"}, ensure_ascii=False),
              f"{key}={secret}&x={filler}", f"<{key}>{secret}</{key}>", f"Bearer {secret}"]
    for body in bodies:
        out = redact_text(body, secrets=[secret])
        assert secret not in out and json.dumps(secret)[1:-1] not in out


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=40),
       field=st.sampled_from(["client_secret", "access_token", "password", "Token", "API_KEY"]))
def test_secret_named_fields_lose_their_value_whatever_it_is(value, field):
    import json

    body = json.dumps({field: value, "other": "kept"})
    out = json.loads(redact_text(body))
    assert out == {field: REDACTED, "other": "kept"}
