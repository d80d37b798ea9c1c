"""The SQL endpoint of a real collector against hostile queries, while spans keep arriving."""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.integration.collector_proc import ROOT, CollectorProcess
from tests.integration.hostile_sql import BOMBS, REFUSED, REFUSED_PARAMETERS

pytestmark = pytest.mark.slow

MEMORY_MB = 256
RESPONSE_BYTES = 4 << 20
OUTFILE = "/tmp/modeltrace-outfile"


@pytest.fixture(scope="module")
def proc(tmp_path_factory):
    p = CollectorProcess(
        str(tmp_path_factory.mktemp("sql")),
        f"api.sql_max_memory_mb={MEMORY_MB}",
        f"api.sql_max_response_bytes={RESPONSE_BYTES}",
        "api.sql_max_seconds=5",
        "analysis.enabled=false",
    ).start()
    send(p, [span(i) for i in range(20)])
    p.wait_stored("ml_predictions", 20)
    yield p
    p.stop()


def span(i, model="churn"):
    return {
        "traceId": f"{i + 1:032x}",
        "spanId": f"{i + 1:016x}",
        "name": f"predict {model}",
        "kind": 2,
        "startTimeUnixNano": str(time.time_ns() - 10**9),
        "endTimeUnixNano": str(time.time_ns()),
        "attributes": [
            {"key": "ml.model.name", "value": {"stringValue": model}},
            {"key": "ml.model.version", "value": {"stringValue": str(1 + i % 2)}},
            {"key": "ml.input.rows", "value": {"intValue": "1"}},
            {"key": "ml.input.sample", "value": {"stringValue": json.dumps({"age": [30 + i], "plan": ["pro"]})}},
        ],
    }


def send(p, spans):
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
    request = urllib.request.Request(
        p.http_endpoint + "/v1/traces", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200


def sql(p, query, timeout=60, **parameters):
    """(status, JSON answer, size of the answer in bytes)."""
    body = json.dumps({"query": query, "parameters": parameters}).encode()
    request = urllib.request.Request(p.api + "/api/sql", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            data = r.read()
            return r.status, json.loads(data), len(data)
    except urllib.error.HTTPError as exc:
        data = exc.read()
        return exc.code, json.loads(data), len(data)


def rss(p):
    with open(f"/proc/{p.proc.pid}/status") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmRSS:"))


def test_hostile_queries_are_refused_with_the_reason(proc):
    wrong = []
    for query, status, reason in REFUSED:
        got, answer, _ = sql(proc, query, **REFUSED_PARAMETERS.get(query, {}))
        if got != status or reason not in answer.get("error", ""):
            wrong.append((query, got, answer))
    assert not wrong, "\n".join(map(repr, wrong))
    assert proc.count("ml_predictions") >= 20  # nothing dropped or truncated
    assert not os.path.exists(OUTFILE)


def test_bombs_are_capped_while_spans_keep_being_stored(proc):
    idle = rss(proc)
    peak, done = [idle], threading.Event()
    sent, lags = [], []

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss(proc))
            time.sleep(0.02)

    def ingest():
        # One span every 0.2 s, each with its own model name; how long until it is stored.
        n = 0
        while not done.is_set() and n < 200:
            model = f"live{n}"
            send(proc, [span(10_000 + n, model)])
            sent.append(model)
            start = time.monotonic()
            proc.wait_until(lambda m=model: proc.count("ml_predictions", f"ModelName = '{m}'") == 1, 20, model)
            lags.append(time.monotonic() - start)
            n += 1
            time.sleep(0.2)

    threads = [threading.Thread(target=watch), threading.Thread(target=ingest)]
    for t in threads:
        t.start()
    answers = []
    try:
        for query, _ in BOMBS:
            # Two at once: the lane's two clients both busy with bombs.
            pair: list = []
            runners = [threading.Thread(target=lambda q=query, out=pair: out.append(sql(proc, q))) for _ in range(2)]
            for r in runners:
                r.start()
            for r in runners:
                r.join(120)
            answers += [(query, *a) for a in pair]
        time.sleep(1)
    finally:
        done.set()
        for t in threads:
            t.join(60)
    for query, status, answer, size in answers:
        assert size <= RESPONSE_BYTES + 4096, query
        if status == 200:
            assert answer["truncated"] is True and "result truncated at" in answer["message"], query
        else:
            assert status == 422 and "api.sql_max_" in answer["error"], (query, answer)
    assert {s for _, s, _, _ in answers} == {200, 422}
    # Before the sandbox these queries took the collector to 4.7-5 GB (arrays of strings, uniqExact).
    assert peak[0] - idle < 2 << 30, f"RSS {idle >> 20} MB idle, {peak[0] >> 20} MB peak"
    assert len(lags) >= 3 and max(lags) < 10, lags
    print(*[(s, n, q[:50]) for q, s, _, n in answers], sep="\n")
    print(f"\nRSS idle {idle >> 20} MB, peak {peak[0] >> 20} MB; {len(lags)} spans stored, slowest {max(lags):.1f}s")


# Answers that ClickHouse keeps under its memory cap but that the collector once turned into Python
# objects whole (some ten times their bytes), each one twice at once: with a cap of 128 MiB a query,
# the collector grew by 1.2-1.8 GB per pair, where ClickHouse itself takes a few hundred MB. (Two
# giant rows of 50M integers, with the default caps: 0.5 to 7 GB, 24 s each, an export waiting 14 s
# for the GIL.)
LARGE_MEMORY_MB = 128
LARGE_ANSWERS = [
    ("SELECT range(12000000)", "one giant row"),
    ("SELECT arrayWithConstant(40000000, toUInt8(7))", "one giant row of bytes"),
    ("SELECT range(600 + number % 2) FROM system.numbers LIMIT 8192", "many large rows"),
    ("SELECT repeat(repeat('\U0001f600', 1000), 10000)", "a huge string"),
    (
        "SELECT mapFromArrays(arrayMap(x -> toString(x), range(150 + number % 2)), range(150 + number % 2))"
        " FROM system.numbers LIMIT 8192",
        "many large maps",
    ),
    ("SELECT arrayMap(x -> range(x % 20), range(100 + number % 2)) FROM system.numbers LIMIT 8192", "nested arrays"),
]


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith(field + ":"))


def in_pairs(p, query, timeout=120):
    """The same query twice at once, as the two connections of the SQL lane take them:
    [(seconds, status, answer, size)]."""
    pair: list = []

    def timed():
        start = time.monotonic()
        status, answer, size = sql(p, query, timeout=timeout)
        pair.append((time.monotonic() - start, status, answer, size))

    runners = [threading.Thread(target=timed) for _ in range(2)]
    for r in runners:
        r.start()
    for r in runners:
        r.join(timeout + 10)
    return pair


def test_large_answers_cost_the_collector_little_memory_and_never_hold_up_ingest(tmp_path):
    p = CollectorProcess(
        str(tmp_path / "c"),
        f"api.sql_max_memory_mb={LARGE_MEMORY_MB}",
        f"api.sql_max_response_bytes={RESPONSE_BYTES}",
        "api.sql_max_seconds=5",
        "analysis.enabled=false",
    ).start()
    try:
        send(p, [span(0)])
        p.wait_stored("ml_predictions", 1)
        pid = p.proc.pid
        idle, peak, done = vm(pid, "VmRSS"), [0], threading.Event()
        acks: list[float] = []

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], vm(pid, "VmRSS"))
                time.sleep(0.01)

        def export():
            # An OTLP/HTTP export every 0.2 s: how long until the collector acknowledges it.
            n = 1
            while not done.is_set() and n < 1000:
                start = time.monotonic()
                try:
                    send(p, [span(n, model=f"during{n}")])
                except OSError:  # not acknowledged within send's 10 s
                    acks.append(float("inf"))
                    break
                acks.append(time.monotonic() - start)
                n += 1
                time.sleep(0.2)

        threads = [threading.Thread(target=watch), threading.Thread(target=export)]
        for t in threads:
            t.start()
        answers = []
        try:
            for query, what in LARGE_ANSWERS:
                answers += [(what, *a) for a in in_pairs(p, query)]
        finally:
            done.set()
            for t in threads:
                t.join(30)
        peak[0] = max(peak[0], vm(pid, "VmHWM"))  # and what the samples missed
        report = [(what, round(seconds, 1), status, size) for what, seconds, status, _, size in answers]
        print(*report, f"RSS {idle >> 20} MB idle, {peak[0] >> 20} MB peak; slowest ack {max(acks):.2f}s",
              sep="\n")  # fmt: skip
        assert len(answers) == 2 * len(LARGE_ANSWERS), report
        for what, seconds, status, answer, size in answers:
            assert seconds < 20 and size <= RESPONSE_BYTES + 4096, (what, seconds, size)
            if status == 200:
                assert answer["truncated"] is True and "(api.sql_max_" in answer["message"], (what, answer)
            else:
                assert status == 422 and "api.sql_max_" in answer["error"], (what, answer)
        assert peak[0] - idle < 1 << 30, f"RSS {idle >> 20} MB idle, {peak[0] >> 20} MB peak"
        assert len(acks) >= 5 and max(acks) < 3, acks
        assert {status for _, _, status, _, _ in answers} == {200, 422}, report  # cut, and refused by a cap
        p.wait_stored("ml_predictions", 1 + len(acks))
    finally:
        p.stop()


def test_a_row_larger_than_the_answer_cap_is_refused_naming_the_cap(proc):
    status, answer, _ = sql(proc, "SELECT range(2000000)")
    assert status == 422 and "api.sql_max_response_bytes" in answer["error"], answer
    # after rows that fit, the answer is cut there instead
    status, answer, _ = sql(proc, "SELECT if(number = 3, range(2000000), [number]) FROM system.numbers LIMIT 10")
    assert status == 200 and answer["rows"] == [[[0]], [[1]], [[2]]] and answer["truncated"] is True


def test_answers_are_strict_json_in_the_same_shape(proc):
    query = (
        "SELECT nan AS n, toUInt64(18446744073709551615) AS u, toDecimal64(1.5, 2) AS d,"
        " toDateTime('2024-01-02 03:04:05', 'UTC') AS t, map('k', [1]) AS m, (1, 'a') AS p"
    )
    body = json.dumps({"query": query}).encode()
    request = urllib.request.Request(proc.api + "/api/sql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        raw = r.read()

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    answer = json.loads(raw, parse_constant=refuse)
    assert answer == {
        "columns": ["n", "u", "d", "t", "m", "p"],
        "rows": [[None, 18446744073709551615, "1.50", "2024-01-02T03:04:05Z", {"k": [1]}, [1, "a"]]],
        "row_count": 1,
        "truncated": False,
    }


ANALYTICS = [
    ("SELECT count() >= 20 FROM otel_traces", [[True]]),
    (
        "SELECT ModelName, count() AS calls, quantile(0.95)(Duration) > 0, countIf(StatusCode = 'Error')"
        " FROM ml_predictions WHERE ModelName = {model:String} GROUP BY ModelName",
        [["churn", 20, True, 0]],
    ),
    (
        "SELECT p.ModelVersion, f.Side, count() FROM ml_predictions AS p INNER JOIN ml_features AS f"
        " ON p.TraceId = f.TraceId AND p.SpanId = f.SpanId WHERE p.ModelName = {model:String}"
        " GROUP BY p.ModelVersion, f.Side ORDER BY p.ModelVersion",
        [["1", "input", 10], ["2", "input", 10]],
    ),
    (
        "SELECT feature, avg(value) FROM ml_features ARRAY JOIN NumFeature AS feature, NumValue AS value"
        " WHERE ModelName = {model:String} GROUP BY feature",
        [["age", 39.5]],
    ),
    (
        "WITH v AS (SELECT ModelVersion, Duration FROM ml_predictions WHERE ModelName = {model:String})"
        " SELECT ModelVersion, count() FROM v GROUP BY ModelVersion ORDER BY ModelVersion",
        [["1", 10], ["2", 10]],
    ),
    (
        "SELECT ModelVersion, rank() OVER (PARTITION BY ModelVersion ORDER BY Timestamp, SpanId) AS r"
        " FROM ml_predictions WHERE ModelName = {model:String} ORDER BY ModelVersion, r LIMIT 1 BY ModelVersion",
        [["1", 1], ["2", 1]],
    ),
    (
        "SELECT count() FROM ml_predictions WHERE TraceId IN (SELECT TraceId FROM modeltrace.otel_traces"
        " WHERE SpanName = 'predict churn')",
        [[20]],
    ),
]


@pytest.mark.parametrize(("query", "rows"), ANALYTICS)
def test_analytic_queries_users_write_still_work(proc, query, rows):
    status, answer, _ = sql(proc, query, model="churn")
    assert status == 200, answer
    assert answer["rows"] == rows and answer["truncated"] is False


def test_get_with_parameters_and_strings_that_look_like_sql(proc):
    query = urllib.parse.urlencode({"query": "SELECT ';', 'settings', count() FROM ml_predictions "
                                    "WHERE ModelName = {m:String}", "param_m": "churn"})  # fmt: skip
    status, answer = proc.get("/api/sql?" + query)
    assert status == 200 and answer["rows"] == [[";", "settings", 20]]


def test_results_past_the_row_cap_say_so(proc):
    status, answer, _ = sql(proc, "SELECT number FROM system.numbers LIMIT 20000")
    assert status == 200 and answer["row_count"] == 10_000
    assert answer["truncated"] is True and answer["message"] == "result truncated at 10000 rows (api.sql_max_rows)"


def test_cli_says_when_the_answer_was_cut(proc):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MODELTRACE_"))}
    env["PYTHONPATH"] = ROOT
    out = subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", "sql", "SELECT number FROM system.numbers LIMIT 20000",
         "--api-url", proc.api],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "(result truncated at 10000 rows (api.sql_max_rows))" in out.stderr
    assert out.stdout.count("\n") > 10_000
