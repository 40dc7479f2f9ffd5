"""``apilog events`` end to end on the real broker (click's runner, and the real binary for -f)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from console.cli import main
from tests.events.conftest import binary_event, ms, produce
from tests.support.gateway import interrupt, restore_ctrl_c

APILOG = str(Path(sys.executable).with_name("apilog"))


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["events", *args], env=env, catch_exceptions=False)


def put(bootstrap: str, topic: str, records) -> None:
    asyncio.run(produce(bootstrap, topic, records))


def test_lines_for_cloudevents_and_raw_records(kafka_broker, topic, pattern):
    put(kafka_broker.bootstrap, topic,
        [binary_event("e-1", subject="cust-9"), {"value": b"\xffplain\nline", "key": b"k1"}])
    result = run("--bootstrap", kafka_broker.bootstrap, "--topic", pattern, "--from", "earliest")
    assert result.exit_code == 0, result.output
    first, second = result.output.splitlines()
    assert first.startswith("2026-11-26T18:00:00.000Z  ") and f"{topic}[0]@0" in first
    assert "apilog.customer.add-record  subject=cust-9  id=e-1  tx=-" in first
    assert f"{topic}[0]@1  RAW  key=k1" in second and "plain\\nline" in second
    assert "value is not valid UTF-8" in second


def test_json_lines_with_the_documented_keys_and_a_filter(kafka_broker, topic, pattern):
    put(kafka_broker.bootstrap, topic, [binary_event("j-1", subject="a"),
                                        binary_event("j-2", subject="bee")])
    result = run("--bootstrap", kafka_broker.bootstrap, "--topic", pattern, "--from", "earliest",
                 "--json", "--filter", "bee")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["id"] for r in rows] == ["j-2"]
    assert {"topic", "partition", "offset", "id", "type", "subject", "time", "data",
            "transaction_id"} <= rows[0].keys()


def test_from_a_time_and_from_an_offset(kafka_broker, topic, pattern):
    cut = datetime(2026, 3, 1, tzinfo=UTC)
    put(kafka_broker.bootstrap, topic, [
        {**binary_event("old"), "timestamp_ms": ms(cut - timedelta(minutes=1))},
        {**binary_event("new"), "timestamp_ms": ms(cut + timedelta(minutes=1))},
        {**binary_event("newer"), "timestamp_ms": ms(cut + timedelta(minutes=2))}])
    base = ["--bootstrap", kafka_broker.bootstrap, "--topic", pattern, "--json"]
    by_time = run(*base, "--from", "2026-03-01T00:00:00Z")
    by_offset = run(*base, "--from", "2")
    assert [json.loads(x)["id"] for x in by_time.output.splitlines()] == ["new", "newer"]
    assert [json.loads(x)["id"] for x in by_offset.output.splitlines()] == ["newer"]


def test_the_profile_names_the_cluster(kafka_broker, topic, pattern):
    put(kafka_broker.bootstrap, topic, [binary_event("p-1")])
    result = run("--topic", pattern, "--from", "earliest",
                 env={"APILOG_KAFKA_BOOTSTRAP": kafka_broker.bootstrap})
    assert result.exit_code == 0, result.output
    assert "id=p-1" in result.output


def test_events_show_the_transaction_they_belong_to(kafka_broker, topic, pattern):
    from console.txlog import TransactionLog, default_log_path

    with TransactionLog(default_log_path()) as log:
        tx_id = log.begin(method="POST", path="/customer", action="add-record")
        log.finish(tx_id, SimpleNamespace(
            outcome="committed", status=201, rolled_back=False, event_id="linked-1",
            elapsed_ms=3.0, sla_ms=None, sla_ok=None, request_id="r", trace_id=None,
            response_headers={}, response_body="", request_headers={}, request_body="",
            error=None, attempts=[1]))
    put(kafka_broker.bootstrap, topic, [binary_event("linked-1")])
    result = run("--bootstrap", kafka_broker.bootstrap, "--topic", pattern, "--from", "earliest")
    assert result.exit_code == 0, result.output
    assert f"id=linked-1  tx={tx_id}" in result.output


def test_bad_input_gets_one_line_errors_without_tracebacks(kafka_broker):
    from console.events.broker import free_port

    bad_from = run("--bootstrap", kafka_broker.bootstrap, "--from", "last tuesday")
    assert bad_from.exit_code == 2
    assert "Error: Invalid value for --from: --from 'last tuesday' is not understood" in bad_from.output
    bad_topic = run("--bootstrap", kafka_broker.bootstrap, "--topic", "[a-")
    assert bad_topic.exit_code == 2 and "not a valid regular expression" in bad_topic.output
    address = f"127.0.0.1:{free_port()}"
    nobody = run("--bootstrap", address, "--timeout", "1")
    assert nobody.exit_code == 1
    assert f"Error: the Kafka broker at {address} did not answer within 1 s" in nobody.output
    no_cluster = run()
    assert no_cluster.exit_code == 2 and "names no Kafka cluster" in no_cluster.output
    for result in (bad_from, bad_topic, nobody, no_cluster):
        assert "Traceback" not in result.output


def test_follow_prints_new_events_until_interrupted(kafka_broker, topic, pattern, tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    process = subprocess.Popen([APILOG, "events", "--bootstrap", kafka_broker.bootstrap,
                                "--topic", pattern, "--from", "earliest", "--follow", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=restore_ctrl_c)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        put(kafka_broker.bootstrap, topic, [binary_event("f-1")])
        from tests.support.broker import wait_until

        wait_until(lambda: lines, 20, message="the first followed event")
        put(kafka_broker.bootstrap, topic, [binary_event("f-2")])
        wait_until(lambda: len(lines) >= 2, 20, message="the second followed event")
    finally:
        code = interrupt(process)
        reader.join(timeout=5)
    assert [json.loads(line)["id"] for line in lines] == ["f-1", "f-2"]
    assert code == 130
    assert "Traceback" not in process.stderr.read()


def test_without_a_profile_it_reads_the_running_sandbox(tmp_path):
    from console.sandbox import Sandbox

    box = Sandbox(startup_timeout=60)
    info = box.start()
    try:
        put(info.kafka_bootstrap, "gateway.events.customer", [binary_event("sandbox-1")])
        result = run("--from", "earliest", "--topic", r"gateway\.events\.customer", "--json")
    finally:
        box.stop()
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == ["sandbox-1"]


def test_outages_and_gaps_are_told_on_stderr(capsys):
    from console.events.cli import _status_reporter
    from console.events.status import FeedGap, FeedStatus

    report = _status_reporter()
    at = datetime(2026, 11, 26, 18, 2, 11, tzinfo=UTC)
    gap = FeedGap("gateway.events.qos", 0, 7, 0, at, "the log now ends at offset 2, before 7")
    report(FeedStatus("connected", at))
    report(FeedStatus("down", at, error="KafkaConnectionError: refused"))
    report(FeedStatus("connected", at + timedelta(seconds=5), gaps=(gap,)))
    report(FeedStatus("connected", at + timedelta(seconds=5), gaps=(gap,)))
    assert capsys.readouterr().err.splitlines() == [
        "apilog events: broker down since 18:02:11: KafkaConnectionError: refused; retrying",
        "apilog events: broker back at 18:02:16",
        "apilog events: gap: gateway.events.qos[0]: the log now ends at offset 2, before 7; "
        "events after offset 6 of the old log, if any, were not read; reading the new log "
        "from offset 0",
    ]


def test_a_bad_load_range_or_queue_size_gets_a_one_line_error():
    bad_range = run("--bootstrap", "127.0.0.1:1", "--load", "gateway.events.customer@5")
    assert bad_range.exit_code == 2
    assert ("Invalid value for --load: 'gateway.events.customer@5' is not a range of offsets: "
            "give TOPIC[PARTITION]@FIRST-LAST") in bad_range.output
    backwards = run("--bootstrap", "127.0.0.1:1", "--load", "t[0]@9-3")
    assert backwards.exit_code == 2 and "is not a range of offsets" in backwards.output
    bad_queue = run("--bootstrap", "127.0.0.1:1", env={"APILOG_EVENTS_QUEUE": "lots"})
    assert bad_queue.exit_code == 2
    assert "APILOG_EVENTS_QUEUE='lots' is not a number of events" in bad_queue.output
    from console.events.broker import free_port

    address = f"127.0.0.1:{free_port()}"
    nobody = run("--bootstrap", address, "--load", "gateway.events.customer[0]@0-3")
    assert nobody.exit_code == 1
    assert nobody.output.startswith("Error: could not re-read gateway.events.customer[0]@0-3 "
                                    f"from the Kafka broker at {address}: ")
    assert len(nobody.output.splitlines()) == 1
    for result in (bad_range, backwards, bad_queue, nobody):
        assert "Traceback" not in result.output


# --json lines: what json.dumps would have written, read back -----------------------------------

def test_a_json_line_reads_back_as_the_event_whatever_its_data():
    from hypothesis import given, settings

    from console.events.cli import json_line
    from tests.events.test_decode import JSON_VALUES

    @settings(max_examples=300, deadline=None)
    @given(data=JSON_VALUES)
    def check(data):
        obj = {"topic": "gateway.events.t", "offset": 7, "data": data, "headers": {"k": "v"}}
        line = json_line(obj)
        assert "\n" not in line
        # read back as json.loads reads it: the same values (repr: 1 is not 1.0, NaN is NaN),
        # lone surrogates too; floats may be spelt otherwise (1e16 for json.dumps's 1e+16)
        assert repr(json.loads(line)) == repr(obj)

    check()


def test_a_json_line_keeps_big_integers_non_finite_numbers_and_unicode():
    from console.events.cli import json_line

    assert json_line({"data": {"iccid": 89840000000000000000}}) == '{"data":{"iccid":89840000000000000000}}'
    assert json_line({"data": [float("nan"), float("-inf")]}) == '{"data":[NaN,-Infinity]}'
    assert json_line({"data": {"a": "x", "b": [1, {"c": 2.5, "d": float("inf")}]}}) == \
        '{"data":{"a":"x","b":[1,{"c":2.5,"d":Infinity}]}}'
    assert json_line({"data": float("nan")}) == '{"data":NaN}'
    assert json_line({"data": {"name": "Nguyễn"}}) == '{"data":{"name":"Nguyễn"}}'
