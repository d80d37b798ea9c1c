"""The rows of a ``/api/sql`` answer: written as JSON by ClickHouse, cut to the caps inside it.

clickhouse-connect turns every value of a block into a Python object before anything can measure
it (an array of integers takes some nine times its bytes), holding the GIL all the while. So the
checked query runs inside ``WRAPPER``, which makes each row one string, the row's JSON array, and
keeps a block's rows only while their running length is under the byte cap. A block then leaves
ClickHouse with at most the cap plus one row, and no row longer than the cap leaves it at all (it
becomes ``''``). The collector reads these strings as bytes, counts them and splices them into the
answer: no value ever becomes a Python object.

``JSONCompactEachRowWithNames`` writes the column names on a line before each row (a row itself
has no raw line break: JSON escapes it). They do not count toward the cap, and only the first row
of a block keeps them: one formatting pass, so ClickHouse holds the JSON of a block once (an
``if`` between two formats would compute both for every row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .sql_policy import Refused

# {cap} and {rows} are the caps, {query} the checked query. runningAccumulate sums within one
# block, which is what bounds a block (a window function summing across blocks keeps every block
# it has seen); 26.x calls it error-prone and wants the setting in JSON_SETTINGS.
WRAPPER = """SELECT if(__modeltrace_length > {cap}, '',
    if(rowNumberInBlock() = 0, __modeltrace_row, substring(__modeltrace_row, __modeltrace_names + 1)))
FROM (
    SELECT formatRowNoNewline('JSONCompactEachRowWithNames', *) AS __modeltrace_row,
        position(__modeltrace_row, '\\n') AS __modeltrace_names,
        length(__modeltrace_row) - __modeltrace_names AS __modeltrace_length,
        runningAccumulate(initializeAggregation('sumState', materialize(toUInt64(__modeltrace_length + 1))))
            AS __modeltrace_end
    FROM ({query}))
WHERE __modeltrace_end - __modeltrace_length - 1 < {cap}
LIMIT {rows}"""

# Session settings of the SQL lane for WRAPPER: its runningAccumulate (the last one), and JSON as
# the API answered before ClickHouse wrote it: 64-bit integers as numbers, decimals as strings with
# their scale, named tuples as objects, NaN and infinities as null, times in ISO 8601 (in UTC, with
# a Z), strings as valid UTF-8 (an invalid sequence becomes U+FFFD).
JSON_SETTINGS: dict[str, Any] = {
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_quote_decimals": 1,
    "output_format_decimal_trailing_zeros": 1,
    "output_format_json_named_tuples_as_objects": 1,
    "output_format_json_quote_denormals": 0,
    "output_format_json_escape_forward_slashes": 0,
    "output_format_json_validate_utf8": 1,
    "date_time_output_format": "iso",
    "allow_deprecated_error_prone_window_functions": 1,
}


@dataclass
class Answer:
    """The answer to one query; ``rows`` are JSON arrays as ClickHouse wrote them."""

    columns: list[str]
    rows: list[bytes] = field(default_factory=list)
    message: str | None = None

    @property
    def truncated(self) -> bool:
        return self.message is not None

    def to_bytes(self) -> bytes:
        """``{"columns", "rows", "row_count", "truncated"[, "message"]}`` as JSON."""
        tail: dict[str, Any] = {"row_count": len(self.rows), "truncated": self.truncated}
        if self.message is not None:
            tail["message"] = self.message
        return b"".join(
            (
                b'{"columns": ',
                json.dumps(self.columns).encode(),
                b', "rows": [',
                b",".join(self.rows),
                b"], ",
                json.dumps(tail).encode()[1:],
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.to_bytes())  # type: ignore[no-any-return]


def read(client: Any, sql: str, parameters: dict[str, Any], max_rows: int, max_bytes: int) -> Answer:
    """Runs the checked query ``sql`` wrapped, and reads at most ``max_rows`` rows and
    ``max_bytes`` bytes of JSON rows; ``Refused`` (422) when the first row alone is larger."""
    wrapped = WRAPPER.format(query=sql, cap=max_bytes, rows=max_rows + 1)
    answer = Answer(columns=[])
    names: list[str] | None = None
    size = 2  # the brackets of "rows"; a row costs its length and a separator
    with client.query_row_block_stream(
        wrapped, parameters=parameters or None, query_formats={"String": "bytes"}
    ) as stream:
        for block in stream:
            for (row,) in block:
                newline = row.find(b"\n")
                if newline >= 0:
                    names = names if names is not None else json.loads(row[:newline])
                    row = row[newline + 1 :]
                if len(answer.rows) == max_rows:
                    answer.message = f"result truncated at {max_rows} rows (api.sql_max_rows)"
                    break
                if not row or size + len(row) + 1 > max_bytes:
                    if not answer.rows:
                        raise Refused(
                            422,
                            f"the first row of the result is larger than the answer's cap of {max_bytes} bytes "
                            "of JSON (api.sql_max_response_bytes): select fewer or shorter values",
                        )
                    answer.message = (
                        f"result truncated at {len(answer.rows)} rows: the answer would exceed "
                        f"{max_bytes} bytes (api.sql_max_response_bytes)"
                    )
                    break
                answer.rows.append(row)
                size += len(row) + 1
            if answer.message:
                break
    answer.columns = names if names is not None else _describe(client, sql, parameters)
    return answer


def _describe(client: Any, sql: str, parameters: dict[str, Any]) -> list[str]:
    """The column names of a query that returned no row (no row carried them)."""
    result = client.query(f"DESCRIBE TABLE ({sql})", parameters=parameters or None)
    return [str(r[0]) for r in result.result_rows]
