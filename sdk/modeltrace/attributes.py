"""The ``ml.*`` span attributes: their names, in one place, for the SDK that writes them and
the collector that reads them.

A predict span carries the model's identity, a sample of its inputs and outputs, their
statistics and, on profiled calls, its hotspots. A feedback span carries a prediction id and
the actual value. Values are OTLP strings, integers, booleans or string arrays; the ones in
:data:`JSON_TEXT` are JSON text, and the collector's tables parse those in
:data:`JSON_PARSED`.

The names are stable: stored spans, saved SQL and dashboards depend on them.
"""

from __future__ import annotations

# Who made the call.
MODEL_NAME = "ml.model.name"
MODEL_VERSION = "ml.model.version"
MODEL_FRAMEWORK = "ml.model.framework"
OPERATION_NAME = "ml.operation.name"
STEP_NAME = "ml.step.name"
PREDICTION_ID = "ml.prediction.id"

# What went in.
INPUT_TYPE = "ml.input.type"
INPUT_ROWS = "ml.input.rows"
INPUT_COLUMNS = "ml.input.columns"
INPUT_SHAPE = "ml.input.shape"
INPUT_SAMPLE = "ml.input.sample"
INPUT_STATS = "ml.input.stats"
INPUT_VALUE = "ml.input.value"
INPUT_TRUNCATED = "ml.input.truncated"
INPUT_REDACTED = "ml.input.redacted"

# What came out.
OUTPUT_ROWS = "ml.output.rows"
OUTPUT_COLUMNS = "ml.output.columns"
OUTPUT_SAMPLE = "ml.output.sample"
OUTPUT_VALUE = "ml.output.value"
OUTPUT_TRUNCATED = "ml.output.truncated"

# Where the time went (calls run under cProfile).
PROFILE_SAMPLED = "ml.profile.sampled"
PROFILE_HOTSPOTS = "ml.profile.hotspots"

# What really happened (feedback spans).
ACTUAL = "ml.actual"

# The operation name of feedback spans.
FEEDBACK_OPERATION = "feedback"

# JSON text the collector's materialized views parse.
JSON_PARSED = frozenset({INPUT_SAMPLE, OUTPUT_SAMPLE, INPUT_STATS, PROFILE_HOTSPOTS, ACTUAL})
# Every attribute holding JSON text: the parsed ones and the previews of ``detail="full"``.
JSON_TEXT = JSON_PARSED | {INPUT_VALUE, OUTPUT_VALUE}
INT_VALUED = frozenset({INPUT_ROWS, INPUT_COLUMNS, OUTPUT_ROWS})
BOOL_VALUED = frozenset({PROFILE_SAMPLED, INPUT_TRUNCATED, OUTPUT_TRUNCATED})

ALL = frozenset(
    value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, str) and value.startswith("ml.")
)
