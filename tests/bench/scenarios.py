"""Fault scenarios with ground truth, as OTLP requests of modeltrace spans with chosen timestamps.

A model served on four hosts gets steady traffic for ``baseline_minutes``; then one fault
starts and lasts ``fault_minutes``. Every call is a ``handle`` span (the analysed series) with
three child steps: ``fetch_features``, ``predict`` and ``postprocess``. Faults:

* version_regression: version 1.1 replaces 1.0 everywhere and its predict step is 3x slower;
* slow_host: every call on node-3 is 3x slower;
* drifted_feature: f2 shifts by +2 sd, and the model is slow on high f2 values;
* slow_step: fetch_features becomes 6x slower everywhere;
* batch_surge: a third of the calls carry 64-256 rows, and predict time grows with rows;
* error_burst: node-2 fails 40% of its calls;

``strength`` scales each effect: at 0.3 the slow version, host or step is 1.6x, 1.6x and
2.5x slower, and node-2 fails 12% of its calls.
* drift_only: f2 shifts by ``drift_shift`` sd with no effect on latency;
* control: nothing changes;
* slow_channel: calls from the 'partner' channel (a categorical input) get a slower predict;
* slow_host_step: node-2 is slow at fetch_features only (the host is the cause, the step its
  mechanism);
* noop_deploy: every call scores a batch of 4-24 rows whose inputs cluster by call (the rows of
  a batch share a region and a channel, and their numbers lie near the batch's own centre), and
  version 1.1 replaces 1.0 with nothing else changed: any drift finding is a false alarm;
* spike: for one minute every call is 5x slower (at strength 1), then nothing;
* traffic_drop: node-2, node-3 and node-4 stop sending (three quarters of the traffic lost);
* second_jump: predict becomes 1.8x slower everywhere, and 8 minutes later node-3 becomes 3x
  slower on top: the episode's rise has its own cause, the host;
* concept_drift, input_drift_errors: a classifier with ground truth (every call's label
  arrives a minute later as an ml.actual span). The truth is 1 when f0 + 0.5 f1 > 0 and the
  model predicts 1 when f0 > 0 (about 85% right). concept_drift: from the fault on, the truth
  flips for the partner channel (same inputs, new relation). input_drift_errors: f1 spreads
  four times wider (the relation holds, but calls move to where the model was always weak);
* correlation_flip: f0 and f1 are correlated +0.9, then -0.9 from the fault on; each keeps its
  own distribution (only a multivariate test can see it);
* slow_pair: predict is 3x slower for the partner channel on node-2 only (neither alone: the
  cause is the pair).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

# (new kinds go at the end: a scenario's seed comes from its index)
FAULTS = (
    "version_regression", "slow_host", "drifted_feature", "slow_step", "batch_surge", "error_burst", "control",
    "slow_channel", "slow_host_step", "noop_deploy", "spike", "traffic_drop", "second_jump", "concept_drift",
    "input_drift_errors", "correlation_flip", "slow_pair",
)  # fmt: skip
HOSTS = ("node-1", "node-2", "node-3", "node-4")
FEATURES = ("f0", "f1", "f2", "f3", "f4", "f5")
CHANNELS = ("web", "app", "partner")  # a categorical input: the sales channel of the request
REGIONS = ("eu", "us", "apac")
MINUTE_NS = 60_000_000_000

# What a correct root-cause analysis names, as (dimension, value) with "" for any value.
TRUTH = {
    "version_regression": ("model.version", "1.1"),
    "slow_host": ("host.name", "node-3"),
    "drifted_feature": ("input.f2", ""),
    "slow_step": ("step", "fetch_features"),
    "batch_surge": ("input.rows", ""),
    "error_burst": ("host.name", "node-2"),
    "slow_channel": ("input.channel", "partner"),
    # one host slow at one step: the host is the cause, the step its mechanism
    "slow_host_step": ("host.name", "node-2"),
    # the cause of the episode's latest rise (the causes are sought again in its first minutes)
    "second_jump": ("host.name", "node-3"),
    # where the wrong predictions are
    "concept_drift": ("input.channel", "partner"),
    "input_drift_errors": ("input.f1", ""),
    # both at once, in either order
    "slow_pair": ("host.name + input.channel", "node-2 + partner"),
}
LABELLED = {"concept_drift": "concept drift", "input_drift_errors": "input drift"}  # and the verdict due
# What a fault opens when it has no cause to name: judged on detection only.
DETECT_ONLY = {"spike": "latency", "traffic_drop": "traffic_drop", "correlation_flip": "multivariate_drift"}


@dataclass
class Scenario:
    fault: str
    seed: int
    model: str
    start_ns: int
    baseline_minutes: int = 180
    fault_minutes: int = 20
    calls_per_minute: int = 24
    drift_shift: float = 2.0
    strength: float = 1.0  # 1: the faults described above; smaller: milder versions of them
    calls_sent: int = 0  # set by requests()

    @property
    def fault_start_ns(self) -> int:
        return self.start_ns + self.baseline_minutes * MINUTE_NS

    @property
    def end_ns(self) -> int:
        return self.fault_start_ns + self.fault_minutes * MINUTE_NS


def kv(key: str, value: object) -> KeyValue:
    """An OTLP attribute of the value's type (bool, int or string)."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def requests(sc: Scenario, spans_per_request: int = 4000) -> list[bytes]:
    """The scenario's spans as encoded ExportTraceServiceRequests."""
    rng = np.random.default_rng(sc.seed)
    by_host: dict[str, list[Span]] = {h: [] for h in HOSTS}
    sc.calls_sent = 0
    minutes = sc.baseline_minutes + sc.fault_minutes
    n = minutes * sc.calls_per_minute
    offsets = np.sort(rng.uniform(0, minutes * MINUTE_NS, n)).astype(np.int64)
    for i, off in enumerate(offsets):
        t0 = sc.start_ns + int(off)
        faulty = t0 >= sc.fault_start_ns
        host = HOSTS[i % len(HOSTS)]
        version = "1.1" if faulty and sc.fault in ("version_regression", "noop_deploy") else "1.0"
        x = rng.normal(0, 1, len(FEATURES))
        if faulty and sc.fault in ("drifted_feature", "drift_only"):
            x[2] += sc.drift_shift
        if sc.fault == "correlation_flip":
            x[1] = (-0.9 if faulty else 0.9) * x[0] + math.sqrt(1 - 0.81) * x[1]
        if faulty and sc.fault == "input_drift_errors":
            x[1] *= 1 + 3 * sc.strength
        rows = 1
        if faulty and sc.fault == "batch_surge" and rng.random() < 1 / 3:
            rows = int(rng.integers(64, 257))
        k = sc.strength
        noise = float(rng.lognormal(0, 0.15))
        fetch = 3.0 * noise * (1 + 5 * k if faulty and sc.fault == "slow_step" else 1)
        if faulty and sc.fault == "slow_host_step" and host == "node-2":
            fetch *= 1 + 5 * k
        predict = 8.0 * noise * (1 + 0.05 * (k if faulty else 1) * (rows - 1))
        if faulty and sc.fault == "version_regression":
            predict *= 1 + 2 * k
        if faulty and sc.fault == "drifted_feature" and x[2] > 1.5:
            predict *= 1 + 1.5 * k * (x[2] - 1.5)
        channel = CHANNELS[(i * 7) % len(CHANNELS)]  # not from rng: the other scenarios draw as before
        if faulty and sc.fault == "slow_channel" and channel == "partner":
            predict *= 1 + 2 * k
        if faulty and sc.fault == "slow_pair" and channel == "partner" and host == "node-2":
            predict *= 1 + 2 * k
        post = 1.0 * noise
        scale = 1 + 2 * k if faulty and sc.fault == "slow_host" and host == "node-3" else 1.0
        if faulty and sc.fault == "spike" and t0 < sc.fault_start_ns + MINUTE_NS:
            scale = 1 + 4 * k
        if faulty and sc.fault == "second_jump":
            predict *= 1 + 0.8 * k
            if host == "node-3" and t0 >= sc.fault_start_ns + 8 * MINUTE_NS:
                scale = 1 + 2 * k
        fetch, predict, post = fetch * scale, predict * scale, post * scale
        failed = faulty and sc.fault == "error_burst" and host == "node-2" and rng.random() < 0.4 * k
        trace_id = rng.bytes(16)
        root_id = rng.bytes(8)
        if faulty and sc.fault == "traffic_drop" and host != "node-1":
            continue  # these hosts send nothing any more
        sc.calls_sent += 1
        total_ms = fetch + predict + post + 0.2
        end = t0 + int(total_ms * 1e6)
        sample: dict[str, list[float | str]] = {f: [round(float(v), 6)] for f, v in zip(FEATURES, x)}
        sample["channel"] = [channel]
        if sc.fault == "noop_deploy":
            sample = batch_sample(rng, x, rows := int(rng.integers(4, 25)))
        root = Span(
            trace_id=trace_id,
            span_id=root_id,
            name=f"handle {sc.model}",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=t0,
            end_time_unix_nano=end,
            attributes=[
                kv("ml.model.name", sc.model),
                kv("ml.model.version", version),
                kv("ml.model.framework", "sklearn"),
                kv("ml.operation.name", "handle"),
                kv("ml.prediction.id", f"{sc.model}-{sc.seed}-{i}"),
                kv("ml.input.rows", rows),
                kv("ml.input.columns", len(FEATURES)),
                kv("ml.output.rows", rows),
                kv("ml.input.sample", json.dumps(sample)),
                kv("ml.output.sample", json.dumps({"score": [round(float(1 / (1 + np.exp(-x[0]))), 4)]})),
            ],
        )
        if failed:
            root.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="upstream connection reset"))
            root.attributes.append(kv("error.type", "ConnectionError"))
        spans = [root]
        cursor = t0 + 100_000
        for name, ms in (("fetch_features", fetch), ("predict", predict), ("postprocess", post)):
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=rng.bytes(8),
                    parent_span_id=root_id,
                    name=name,
                    kind=Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=cursor,
                    end_time_unix_nano=cursor + int(ms * 1e6),
                    attributes=[kv("ml.step.name", name)],
                )
            )
            cursor += int(ms * 1e6)
        if sc.fault in LABELLED:
            (out,) = [a for a in spans[0].attributes if a.key == "ml.output.sample"]
            out.CopyFrom(labelled_output(x))
            spans.append(actual_span(sc, i, x, channel, faulty, t0 + MINUTE_NS))
        by_host[host].extend(spans)
    out = []
    for host, spans in by_host.items():
        resource = Resource(
            attributes=[kv("service.name", "scoring-api"), kv("host.name", host), kv("cloud.region", "eu-west-1")]
        )
        for k in range(0, len(spans), spans_per_request):
            req = ExportTraceServiceRequest(
                resource_spans=[
                    ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans[k : k + spans_per_request])])
                ]
            )
            out.append(req.SerializeToString())
    return out


def _truth(x: np.ndarray, channel: str, flipped: bool) -> int:
    y = int(x[0] + 0.5 * x[1] > 0)
    return 1 - y if flipped and channel == "partner" else y


def labelled_output(x: np.ndarray) -> KeyValue:
    """The classifier's output sample: its label (1 when f0 > 0) and its score."""
    score = round(float(1 / (1 + np.exp(-3 * x[0]))), 4)
    return kv("ml.output.sample", json.dumps({"label": [int(x[0] > 0)], "score": [max(score, 1 - score)]}))


def actual_span(sc: Scenario, i: int, x: np.ndarray, channel: str, faulty: bool, at_ns: int) -> Span:
    """The ground truth of call ``i``, sent a minute after it (modeltrace.log_actual's span)."""
    # at strength k the truth flips for that share of the partner channel's calls
    flipped = faulty and sc.fault == "concept_drift" and i % 10 < round(10 * sc.strength)
    truth = _truth(x, channel, flipped)
    return Span(
        trace_id=i.to_bytes(8, "big") + sc.seed.to_bytes(8, "big"),
        span_id=(i + 1).to_bytes(8, "big"),
        name="modeltrace.actual",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=at_ns,
        end_time_unix_nano=at_ns + 1000,
        attributes=[
            kv("ml.model.name", sc.model),
            kv("ml.prediction.id", f"{sc.model}-{sc.seed}-{i}"),
            kv("ml.actual", json.dumps(truth)),
        ],
    )


def batch_sample(rng: np.random.Generator, centre: np.ndarray, rows: int) -> dict[str, list[float | str]]:
    """A batch of ``rows`` rows that cluster by call: numbers near the call's own centre, one
    channel and one region for the whole batch."""
    values = centre[:, None] + rng.normal(0, 0.25, (len(FEATURES), rows))
    sample: dict[str, list[float | str]] = {f: [round(float(v), 6) for v in vs] for f, vs in zip(FEATURES, values)}
    sample["channel"] = [CHANNELS[int(rng.integers(len(CHANNELS)))]] * rows
    sample["region"] = [REGIONS[int(rng.integers(len(REGIONS)))]] * rows
    return sample


def send(grpc_endpoint: str, bodies: list[bytes]) -> None:
    """Export encoded requests to a collector's OTLP/gRPC receiver (``http://host:port``)."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    with grpc.insecure_channel(grpc_endpoint.removeprefix("http://")) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        for body in bodies:
            stub.Export(ExportTraceServiceRequest.FromString(body), timeout=60)


def matches(cause: dict, fault: str) -> bool:
    """Whether a root-cause candidate names the scenario's true cause."""
    dim, value = TRUTH[fault]
    dims = [d.strip() for d in str(cause.get("dimension", "")).split("+")]
    values = [v.strip() for v in str(cause.get("value", "")).split("+")]
    if "+" in dim:  # a pair is named only by the same pair
        wanted = set(zip((d.strip() for d in dim.split("+")), (v.strip() for v in value.split("+"))))
        return set(zip(dims, values)) == wanted
    return any(d == dim and (not value or v == value) for d, v in zip(dims, values))
