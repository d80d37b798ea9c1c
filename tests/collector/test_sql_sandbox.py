"""The SQL sandbox on a real chDB: ClickHouse's parse of each query, the policy over it, the caps."""

import threading
import uuid

import pytest

from modeltrace_collector.query import ast_dump, gen_sql_functions, sql_answer, sql_sandbox
from modeltrace_collector.query.functions import UNBOUNDED_WORK, allowlist, parse
from modeltrace_collector.query.sql_policy import Policy, Refused
from modeltrace_collector.query.sql_sandbox import SqlLimits, SqlSandbox
from modeltrace_collector.storage.migrate import SchemaOptions
from modeltrace_collector.storage.store import Store

LIMITS = SqlLimits(
    max_rows=100, max_response_bytes=1 << 20, max_seconds=5, max_memory_bytes=256 << 20, max_rows_to_read=10**8
)

DANGEROUS = [
    "file", "url", "s3", "remote", "cluster", "view", "input", "executable", "catboostEvaluate", "joinGet",
    "joinGetOrNull", "dictGet", "dictGetString", "dictHas", "hasColumnInTable", "getSetting", "getServerSetting",
    "getSettingOrDefault", "getMergeTreeSetting", "getMacro", "hostName", "FQDN", "sleep", "sleepEachRow",
    "logTrace", "generateSerialID", "filesystemAvailable", "filesystemCapacity", "filesystemUnreserved",
    "addressToLine", "addressToSymbol", "demangle", "regionToName", "regionHierarchy", "globalVariable",
    "currentUser", "currentRoles", "serverUUID", "uptime", "tcpPort", "getClientHTTPHeader", "displayName",
    "aiGenerate", "naiveBayesClassifier", "timeSeriesStoreTags", "zookeeperSessionUptime", "__getScalar",
    "showCertificate", "getOSKernelVersion", "buildId", "numbers", "s3Cluster", "mysql", "python",
]  # fmt: skip


@pytest.fixture
def sql_store(chdb_target):
    database = f"t_{uuid.uuid4().hex[:12]}"
    settings = {"sql": LIMITS.session_settings()}
    store = Store(chdb_target, SchemaOptions(database=database), lanes={"sql": 2}, lane_settings=settings)
    store.migrate()
    yield store, SqlSandbox(database, LIMITS)
    with store.session("write") as c:
        c.command(f"DROP DATABASE IF EXISTS `{database}`")
    store.close()


def answer(sql_store, query, **parameters):
    """The answer as the API sends it, read back."""
    store, sandbox = sql_store
    return sandbox.answer(store, query, parameters).to_dict()


def refusal(sql_store, query, **parameters):
    with pytest.raises(Refused) as info:
        answer(sql_store, query, **parameters)
    return info.value.status, str(info.value)


# -- the function allowlist ---------------------------------------------------------------


@pytest.mark.parametrize("name", DANGEROUS)
def test_allowlist_keeps_out_functions_that_reach_outside(name):
    functions = allowlist()
    for spelled in (name, name.upper(), name.lower(), name + "If", name + "State", name + "OrNull"):
        assert spelled not in functions


@pytest.mark.parametrize("name", sorted(UNBOUNDED_WORK))
def test_allowlist_keeps_out_functions_whose_work_the_time_cap_cannot_stop(name):
    assert name not in allowlist() and name not in allowlist().folded
    assert name in gen_sql_functions.NEVER  # the generator leaves them out too


def test_allowlist_is_the_reviewed_file_with_combinators_and_case_folding():
    functions = allowlist()
    assert len(functions) > 1500
    allowed = [
        "sum",
        "SUM",
        "sumIf",
        "uniqExactArrayIf",
        "quantilesTDigestMerge",
        "avgOrNullIf",
        "countState",
        "sumResample",
        "groupArrayForEach",
        "argMaxDistinct",
        "lcase",
        "toStartOfInterval",
        "lambda",
    ]
    for name in allowed:
        assert name in functions, name
    for name in ("plusIf", "lowerState", "sumIfIfIfIfIf", "nonexistentFunction"):
        assert name not in functions, name


def test_allowlist_file_refuses_malformed_lines():
    with pytest.raises(ValueError, match=r"sql_functions\.txt:2"):
        parse("abs s 1\nfile x 1\n")


# -- EXPLAIN AST text as a tree -----------------------------------------------------------


def test_dump_parses_names_aliases_and_children():
    root = ast_dump.parse(
        "SelectWithUnionQuery (children 1)\n"
        " ExpressionList (children 2)\n"
        "  Function plus (alias s (x)) (children 1)\n"
        "   ExpressionList\n"
        "  Subquery (alias b) (children 1)\n"
        "   Literal 'a (children 2)'\n"
    )
    plus, sub = root.children[0].children
    assert (plus.type, plus.name, plus.alias, plus.declared) == ("Function", "plus", "s (x)", 1)
    assert (sub.text, sub.alias) == ("", "b")
    assert sub.children[0].text == "'a (children 2)'"


@pytest.mark.parametrize(
    "dump",
    [
        "SelectWithUnionQuery (children 2)\n ExpressionList\n",  # a child missing
        "SelectWithUnionQuery (children 1)\n ExpressionList\n Literal 1\n",  # one too many
        "SelectWithUnionQuery (children 1)\n  ExpressionList\n",  # skips a level
        "SelectWithUnionQuery\nSelectWithUnionQuery\n",  # two roots
        "SelectWithUnionQuery (children 1)\n\n ExpressionList\n",  # a blank line
        "SelectWithUnionQuery (children 1)\n\tExpressionList\n",  # not a node
        "",
    ],
)
def test_dump_that_does_not_add_up_is_refused(dump):
    with pytest.raises(ast_dump.DumpError):
        ast_dump.parse(dump)


def test_deep_dump_parses_without_recursion():
    depth = 5000
    dump = "".join(" " * i + "Function f (children 1)\n" for i in range(depth)) + " " * depth + "Literal 1\n"
    assert len(ast_dump.walk(ast_dump.parse(dump))) == depth + 1


# Dumps of ClickHouse 24.8.4 (chdb 2.1.1), which this venv does not run: the tree has no window
# definitions, so a check of the tree alone would miss what is in them.
DUMP_248_WINDOW = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Function sum (children 1)
     ExpressionList (children 1)
      Identifier x
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier t
"""
DUMP_248_NAMED_WINDOW = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 3)
   ExpressionList (children 1)
    Function rank (children 1)
     ExpressionList
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier t
   ExpressionList (children 1)
    WindowListElement
"""
DUMP_248_JOIN_FILE = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Asterisk
   TablesInSelectQuery (children 2)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier t (alias a)
    TablesInSelectQueryElement (children 2)
     TableExpression (children 1)
      Function file (alias f) (children 1)
       ExpressionList (children 2)
        Literal '/etc/passwd'
        Literal 'LineAsString'
     TableJoin (children 1)
      Literal UInt64_1
"""
DUMP_248_GLOBAL_IN = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Identifier x
   Function globalIn (children 1)
    ExpressionList (children 2)
     Identifier x
     Identifier system.processes
"""


def test_24_8_window_definitions_are_refused_because_its_dump_leaves_them_out():
    policy = Policy("modeltrace", allowlist())
    inline = ast_dump.parse(DUMP_248_WINDOW)
    policy.check(inline)
    with pytest.raises(Refused, match="window definitions"):
        policy.check_text(inline, "SELECT sum(x) OVER (PARTITION BY file( )) FROM t")
    named = ast_dump.parse(DUMP_248_NAMED_WINDOW)
    policy.check(named)
    with pytest.raises(Refused, match="window definitions"):
        policy.check_text(named, "SELECT rank() OVER w FROM t WINDOW w AS (ORDER BY b ASC)")


@pytest.mark.parametrize(
    ("dump", "message"),
    [(DUMP_248_JOIN_FILE, "table function 'file'"), (DUMP_248_GLOBAL_IN, "table system.processes")],
)
def test_24_8_dumps_are_checked_like_26(dump, message):
    with pytest.raises(Refused, match=message):
        Policy("modeltrace", allowlist()).check(ast_dump.parse(dump))


def test_text_cross_check_catches_a_call_the_tree_does_not_show():
    policy = Policy("modeltrace", allowlist())
    root = ast_dump.parse(DUMP_248_WINDOW)
    with pytest.raises(Refused, match="function 'file'"):
        policy.check_text(root, "SELECT sum(x), file( ) FROM t")
    policy.check_text(root, "SELECT sum(x) FROM t WHERE (a IN (1, 2)) AND (b = ANY (SELECT 1))")


# -- the policy on chDB's parse -------------------------------------------------------------

ALLOWED = [
    "SELECT count() FROM otel_traces",
    "SELECT count() FROM {db}.ml_predictions",
    "SELECT ';', 'settings', 'FORMAT', 'SELECT * FROM system.processes'",
    "SELECT 1 /* ; */, 'x'--",
    "select 1 -- trailing comment",
    "SELECT 1;",
    "SELECT ModelName, quantile(0.95)(Duration) / 1e6 AS p95, quantiles(0.5, 0.99)(Duration),"
    " countIf(StatusCode = 'Error') FROM ml_predictions GROUP BY ModelName ORDER BY p95 DESC LIMIT 10",
    "SELECT p.ModelName, f.Side, count() FROM ml_predictions AS p INNER JOIN ml_features AS f"
    " ON p.TraceId = f.TraceId AND p.SpanId = f.SpanId GROUP BY p.ModelName, f.Side",
    "SELECT feature, avg(value) FROM ml_features ARRAY JOIN NumFeature AS feature, NumValue AS value"
    " WHERE Side = 'input' GROUP BY feature",
    "SELECT ModelName, Timestamp, Duration, avg(Duration) OVER (PARTITION BY ModelName ORDER BY Timestamp"
    " ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS moving, rank() OVER w AS r FROM ml_predictions"
    " WINDOW w AS (PARTITION BY ModelName ORDER BY Duration DESC)",
    "WITH recent AS (SELECT * FROM ml_predictions WHERE Timestamp > now() - INTERVAL 1 HOUR)"
    " SELECT ModelName, count() FROM recent GROUP BY ModelName",
    "SELECT * FROM (SELECT ModelName, max(Duration) AS m FROM ml_predictions GROUP BY ModelName) WHERE m > 0",
    "SELECT count() FROM ml_predictions WHERE TraceId IN (SELECT TraceId FROM otel_traces WHERE StatusCode = 'Error')",
    "SELECT ModelName FROM ml_predictions WHERE ModelName = {model:String} AND Duration > {ms:UInt64} LIMIT 5",
    "SELECT toStartOfInterval(Timestamp, INTERVAL 5 MINUTE) AS t, sumIf(1, StatusCode = 'Error') FROM ml_predictions"
    " GROUP BY t ORDER BY t WITH FILL STEP toIntervalMinute(5)",
    "SELECT arrayMap(x -> x * 2, [1, 2, 3]), CASE WHEN 1 THEN 'a' ELSE 'b' END, 1::Int32, tuple(1, 'a').2",
    "SELECT number FROM system.numbers LIMIT 3",
    "SELECT 1 FROM system.one UNION ALL SELECT 2 INTERSECT SELECT 2",
    "SELECT * EXCEPT (ResourceAttributes) FROM ml_predictions LIMIT 1",
    "SELECT COLUMNS('Model') FROM ml_predictions LIMIT 1",
    "SELECT ResourceAttributes['host.name'] FROM ml_predictions LIMIT 1",
    "SELECT '%(model)s' AS not_bound_by_the_driver",
]


@pytest.mark.parametrize("query", ALLOWED)
def test_normal_analytic_queries_run(sql_store, query):
    params = {"model": "m", "ms": 1} if "{model" in query else {"model": "x' OR 1 --"}
    out = answer(sql_store, query.replace("{db}", sql_store[1].database), **params)
    assert set(out) >= {"columns", "rows", "row_count", "truncated"} and out["truncated"] is False


def test_parameters_are_bound_by_clickhouse_never_spliced_into_the_text(sql_store):
    # The driver formats %(name)s client-side when a query has no {name:Type}: the sandbox
    # passes only the parameters the query names as {name:Type}.
    out = answer(sql_store, "SELECT '%(x)s', {y:String}", x="') FROM system.processes --", y="it's")
    assert out["rows"] == [["%(x)s", "it's"]]
    assert answer(sql_store, "SELECT {t:Identifier} FROM system.one", t="dummy")["rows"] == [[0]]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", 403, "table function 'file' is not allowed"),
        ("SELECT * FROM numbers(3)", 403, "table function 'numbers'"),
        ("SELECT 1 IN format(CSV, '1')", 403, "table function 'format'"),
        ("SELECT file('/etc/passwd')", 403, "function 'file' is not allowed"),
        ("SELECT File('/etc/passwd')", 403, "function 'File'"),
        ("SELECT sumIf(1, file('x') = '')", 403, "function 'file'"),
        ("SELECT count() OVER (PARTITION BY file('x')) FROM system.one", 403, "function 'file'"),
        ("SELECT 1 FROM system.one WINDOW w AS (ORDER BY hostName())", 403, "function 'hostName'"),
        ("SELECT * APPLY(x -> file(x)) FROM (SELECT '/etc/passwd' AS p)", 403, "APPLY"),
        ("SELECT * FROM system.processes", 403, "table system.processes is not allowed (allowed:"),
        ("SELECT 1 WHERE 1 IN system.settings", 403, "table system.settings"),
        ("SELECT 1 WHERE 1 NOT IN (SELECT 1 FROM system.tables)", 403, "table system.tables"),
        ("SELECT * FROM `system`.`disks`", 403, "table system.disks"),
        ("SELECT * FROM other_db.t", 403, "table other_db.t"),
        ("SELECT system.processes.query", 403, "system database"),
        ("SELECT 1 SETTINGS max_memory_usage = 0", 403, "SETTINGS is not allowed"),
        ("SELECT * FROM (SELECT 1 SETTINGS max_threads = 64)", 403, "SETTINGS is not allowed"),
        ("SELECT 1 FORMAT JSON", 403, "FORMAT is not allowed"),
        ("SELECT 1 INTO OUTFILE '/tmp/modeltrace-never'", 403, "INTO OUTFILE is not allowed"),
        ("EXPLAIN SYNTAX SELECT 1", 403, "only SELECT queries are allowed, not EXPLAIN"),
        ("DESCRIBE url('http://127.0.0.1:9/', 'JSONEachRow')", 403, "not DESCRIBE"),
        ("INSERT INTO ml_findings (FindingId) VALUES ('x')", 403, "not INSERT"),
        ("SYSTEM SHUTDOWN", 403, "not SYSTEM"),
        ("SELECT 1; DROP TABLE ml_predictions", 400, "only one SELECT statement"),
        ("SELECT 1 -- \n; DROP TABLE ml_predictions", 400, "only one SELECT statement"),
        ("SELECT 1 AS `a\nSelectQuery (children 1)`", 400, "quoted identifiers"),
        ("SELECT 1 AS `a\\n Function file`", 400, "quoted identifiers"),
        ("SELECT (", 400, "Syntax error"),
        ("", 400, "query is required"),
        ("SELECT nonexistent_column_xyz", 400, "query failed"),
    ],
)
def test_hostile_queries_are_refused_with_the_reason(sql_store, query, status, message):
    got_status, got = refusal(sql_store, query)
    assert (got_status, message) == (status, message if message in got else got)


def test_identifier_parameters_must_be_plain_names(sql_store):
    assert refusal(sql_store, "SELECT * FROM {t:Identifier}", t="system.processes")[0] == 403
    assert refusal(sql_store, "SELECT * FROM {t:Identifier}", t="a\nb")[0] == 400
    assert refusal(sql_store, "SELECT {x:String}")[1].startswith("no value for query parameter(s) x")
    assert refusal(sql_store, "SELECT 1", **{"$x$": b"1"})[0] == 400


def test_refused_queries_leave_the_data_alone(sql_store, tmp_path):
    target = tmp_path / "out.csv"
    for query in (f"SELECT 1 INTO OUTFILE '{target}'", "SELECT 1; DROP TABLE ml_predictions"):
        with pytest.raises(Refused):
            answer(sql_store, query)
    assert not target.exists()
    assert answer(sql_store, "SELECT count() FROM ml_predictions")["rows"] == [[0]]


# -- caps ---------------------------------------------------------------------------------


def test_rows_past_the_cap_are_cut_and_said_so(sql_store):
    out = answer(sql_store, "SELECT number FROM system.numbers LIMIT 1000")
    assert out["row_count"] == 100 and out["rows"][-1] == [99]
    assert out["truncated"] is True and out["message"] == "result truncated at 100 rows (api.sql_max_rows)"
    exact = answer(sql_store, "SELECT number FROM system.numbers LIMIT 100")
    assert exact["row_count"] == 100 and exact["truncated"] is False


def test_bytes_past_the_cap_are_cut_and_said_so(sql_store):
    out = answer(sql_store, "SELECT repeat('x', 100000) FROM system.numbers LIMIT 50")
    assert out["truncated"] is True and out["row_count"] == 10
    assert "would exceed 1048576 bytes (api.sql_max_response_bytes)" in out["message"]


@pytest.mark.parametrize(
    ("query", "cap"),
    [
        ("SELECT uniqExact(x) FROM system.one ARRAY JOIN range(50000000) AS x", "api.sql_max_memory_mb"),
        ("SELECT arrayMap(x -> repeat('y', 1000), range(100000)) FROM system.numbers LIMIT 10", "memory"),
        ("SELECT count() FROM system.numbers", "api.sql_max_rows_to_read"),
    ],
)
def test_caps_answer_422_naming_the_setting(sql_store, query, cap):
    status, message = refusal(sql_store, query)
    assert status == 422 and cap in message


def test_a_function_the_time_cap_cannot_stop_is_refused_with_the_reason(sql_store):
    status, message = refusal(sql_store, "SELECT arrayLevenshteinDistance(range(150000), range(1, 150001))")
    assert status == 403 and "time cap cannot stop a call" in message
    status, message = refusal(sql_store, "SELECT hasAny(range(3), [1])")
    assert status == 403 and "arrayExists(x -> has(b, x), a)" in message
    assert answer(sql_store, "SELECT arrayExists(x -> has([1, 5], x), range(3))")["rows"] == [[True]]


def test_values_keep_the_formats_the_api_always_answered_in(sql_store):
    out = answer(
        sql_store,
        "SELECT toUInt64(18446744073709551615), toInt128(-5), toDecimal64(1.230, 3), nan, -inf, NULL,"
        " toDateTime('2024-01-01 00:00:00', 'UTC'), toDate('2024-01-02'), map('a', 1), (1, 'a'),"
        " CAST((1, 'a'), 'Tuple(n UInt8, s String)'), [1.5, 2.5], toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0'),"
        " toIPv4('1.2.3.4'), 'é/\"\n', true, CAST('a', 'Enum8(\\'a\\' = 1)'), toLowCardinality('lc'),"
        " toDateTime64('2024-01-01 00:00:00.123456789', 9, 'UTC'), toFloat32(0.1), unhex('FF')",
    )
    assert out["rows"] == [
        [
            18446744073709551615, -5, "1.230", None, None, None, "2024-01-01T00:00:00Z", "2024-01-02", {"a": 1},
            [1, "a"], {"n": 1, "s": "a"}, [1.5, 2.5], "61f0c404-5cb3-11e7-907b-a6006ad3dba0", "1.2.3.4", 'é/"\n',
            True, "a", "lc",
            # ClickHouse writes these better than the Python conversions did: nanoseconds (not
            # microseconds), a Float32 as written, and U+FFFD for invalid UTF-8 (not its hex)
            "2024-01-01T00:00:00.123456789Z", 0.1, "\ufffd",
        ]
    ]  # fmt: skip


def test_column_names_survive_the_wrapper_even_duplicate_or_without_rows(sql_store):
    out = answer(sql_store, "SELECT 1, 1, 'x' AS `a \"b\"`, number FROM system.numbers LIMIT 20000")
    assert out["columns"] == ["1", "1", 'a "b"', "number"] and out["rows"][-1] == [1, 1, "x", 99]
    empty = answer(sql_store, "SELECT ModelName, count() AS n FROM ml_predictions WHERE ModelName = {m:String} "
                   "GROUP BY ModelName", m="none")  # fmt: skip
    assert empty == {"columns": ["ModelName", "n"], "rows": [], "row_count": 0, "truncated": False}


def test_order_by_and_union_survive_the_wrapper(sql_store):
    out = answer(sql_store, "SELECT number FROM (SELECT number FROM system.numbers_mt LIMIT 300000) "
                 "ORDER BY number % 7, number DESC")  # fmt: skip
    assert [r[0] for r in out["rows"]] == [299999 - 7 * i for i in range(100)]
    out = answer(sql_store, "SELECT 1 AS a UNION ALL SELECT 2")
    assert out["columns"] == ["a"] and sorted(out["rows"]) == [[1], [2]]


def test_a_row_larger_than_the_byte_cap_is_a_422_naming_the_cap(sql_store):
    status, message = refusal(sql_store, "SELECT range(1000000)")  # 6.9 MB of JSON, the cap is 1 MiB
    assert status == 422 and "api.sql_max_response_bytes" in message
    out = answer(sql_store, "SELECT if(number = 3, repeat('xx', 1000000), 'a') FROM system.numbers LIMIT 10")
    assert out["rows"] == [["a"]] * 3 and out["truncated"] is True and "api.sql_max_response_bytes" in out["message"]


def test_a_block_leaves_clickhouse_with_at_most_the_cap_and_one_row(sql_store):
    # The collector reads the wrapped query whole here, to see what ClickHouse sends: 100 rows of
    # 100 kB in one block, and a cap of 1 MiB.
    store, _ = sql_store
    cap = 1 << 20
    wrapped = sql_answer.WRAPPER.format(
        query="SELECT repeat('x', 100000) FROM system.numbers LIMIT 100", cap=cap, rows=1000
    )
    with store.session("sql") as c:
        rows = [r[0] for r in c.query(wrapped).result_rows]
        assert len(rows) == 11 and sum(map(len, rows)) < cap + 100_100
        single = c.query(sql_answer.WRAPPER.format(query="SELECT range(1000000)", cap=cap, rows=1000)).result_rows
        assert single == [("",)]  # a row longer than the cap stays inside ClickHouse


def test_time_cap(chdb_target):
    limits = SqlLimits(max_seconds=0.5, max_rows_to_read=10**12, max_bytes_to_read=10**14)
    store = Store(chdb_target, SchemaOptions(database="system"), lane_settings={"sql": limits.session_settings()})
    store.migrated = True  # system exists already: nothing to migrate
    try:
        with pytest.raises(Refused) as info:
            SqlSandbox("system", limits).answer(store, "SELECT count() FROM system.numbers WHERE number % 7 = 3", {})
        assert info.value.status == 422 and "api.sql_max_seconds" in str(info.value)
    finally:
        store.close()


def test_the_caps_hold_for_every_member_of_a_union(sql_store):
    store, _ = sql_store
    with store.session("sql") as c:
        rows = c.query("SELECT getSetting('max_memory_usage') UNION ALL SELECT getSetting('max_memory_usage')")
        assert [r[0] for r in rows.result_rows] == [256 << 20, 256 << 20]
        assert c.query("SELECT getSetting('readonly')").result_rows == [(1,)]


def test_a_busy_lane_answers_429(sql_store, monkeypatch):
    store, _ = sql_store
    monkeypatch.setattr(sql_sandbox, "_WAIT_SECONDS", 0.2)
    held, release = threading.Event(), threading.Event()

    def hold():
        with store.session("sql"):
            held.set()
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(store.lanes["sql"].size)]
    for t in threads:
        t.start()
    try:
        assert held.wait(10)
        while store.lanes["sql"].in_use < store.lanes["sql"].size:
            pass
        status, message = refusal(sql_store, "SELECT 1")
        assert status == 429 and "busy" in message
    finally:
        release.set()
        for t in threads:
            t.join()


def test_sql_dsn_runs_user_sql_as_its_own_server_user(tmp_path):
    from modeltrace_collector.config import ConfigError, load
    from modeltrace_collector.service import make_store

    server = load(environ={}, overrides={"storage.dsn": "http://writer@ch:8123", "api.sql_dsn": "http://reader@ch:8123",
                                          "data_dir": str(tmp_path)})  # fmt: skip
    store = make_store(server)
    assert store.lane_targets["sql"].dsn == "http://reader@ch:8123" and "sql" in store.lane_settings
    assert store.target.dsn == "http://writer@ch:8123"
    with pytest.raises(ValueError, match="needs a ClickHouse server"):
        make_store(load(environ={}, overrides={"api.sql_dsn": "http://reader@ch:8123", "data_dir": str(tmp_path)}))
    with pytest.raises(ConfigError, match=r"api\.sql_dsn"):
        load(environ={}, overrides={"api.sql_dsn": "clickhouse://x"})


def test_api_answers_refusals_with_their_status_and_busy_with_retry_after():
    import json
    import urllib.error
    import urllib.parse
    import urllib.request
    from types import SimpleNamespace

    from modeltrace_collector.api.server import ApiServer

    class Sql:
        def answer(self, store, query, parameters):
            raise Refused(429 if query == "busy" else 403, f"refused {query} {parameters}")

    from modeltrace_collector.config import load

    config = load(environ={}, overrides={"api.max_reference_bytes": 1 << 20})
    server = ApiServer("127.0.0.1:0", SimpleNamespace(sql=Sql(), store=None, config=config))
    server.start()
    try:
        for query, status, retry in (("busy", 429, "1"), ("SELECT file('x')", 403, None)):
            url = f"http://127.0.0.1:{server.port}/api/sql?" + urllib.parse.urlencode({"query": query, "param_a": "1"})
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(url, timeout=10)
            assert info.value.code == status and info.value.headers.get("Retry-After") == retry
            assert json.loads(info.value.read()) == {"error": f"refused {query} {{'a': '1'}}"}
    finally:
        server.shutdown()
