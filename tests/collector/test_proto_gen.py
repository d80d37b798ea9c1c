"""The committed code generated from proto/ is what ``make proto`` generates now."""

from __future__ import annotations

import filecmp
import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "collector" / "modeltrace_collector" / "proto_gen"


def test_generated_code_is_up_to_date(tmp_path):
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    sys.modules["proto_generate"] = generate
    spec.loader.exec_module(generate)
    fresh = tmp_path / "proto_gen"
    generate.generate(fresh)
    committed = sorted(
        p.relative_to(COMMITTED) for p in COMMITTED.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    generated = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert committed == generated, "run `make proto`: the files differ"
    stale = [str(p) for p in generated if not filecmp.cmp(COMMITTED / p, fresh / p, shallow=False)]
    assert not stale, f"run `make proto`: stale generated code in {stale}"


def test_the_wire_contract_of_jaeger_storage_v2():
    """Package, services, methods and field numbers Jaeger's remote storage client relies on."""
    from modeltrace_collector.proto_gen.jaeger.storage.v2 import dependency_storage_pb2, trace_storage_pb2

    reader = trace_storage_pb2.DESCRIPTOR.services_by_name["TraceReader"]
    assert reader.full_name == "jaeger.storage.v2.TraceReader"
    methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in reader.methods}
    assert methods == {
        "GetTraces": ("jaeger.storage.v2.GetTracesRequest", "opentelemetry.proto.trace.v1.TracesData"),
        "GetServices": ("jaeger.storage.v2.GetServicesRequest", "jaeger.storage.v2.GetServicesResponse"),
        "GetOperations": ("jaeger.storage.v2.GetOperationsRequest", "jaeger.storage.v2.GetOperationsResponse"),
        "FindTraces": ("jaeger.storage.v2.FindTracesRequest", "opentelemetry.proto.trace.v1.TracesData"),
        "FindTraceIDs": ("jaeger.storage.v2.FindTraceIDsRequest", "jaeger.storage.v2.FindTraceIDsResponse"),
        "FindTraceSummaries": (
            "jaeger.storage.v2.FindTraceSummariesRequest",
            "jaeger.storage.v2.FindTraceSummariesResponse",
        ),
    }
    fields = {f.name: f.number for f in trace_storage_pb2.TraceQueryParameters.DESCRIPTOR.fields}
    assert fields == {
        "service_name": 1, "operation_name": 2, "attributes": 3, "start_time_min": 4, "start_time_max": 5,
        "duration_min": 6, "duration_max": 7, "search_depth": 8, "pagination": 10,
    }  # fmt: skip
    assert {f.name: f.number for f in trace_storage_pb2.GetTraceParams.DESCRIPTOR.fields} == {
        "trace_id": 1, "start_time": 2, "end_time": 3,
    }  # fmt: skip
    assert {f.name: f.number for f in trace_storage_pb2.FoundTraceID.DESCRIPTOR.fields} == {
        "trace_id": 1, "start": 2, "end": 3,
    }  # fmt: skip
    deps = dependency_storage_pb2.DESCRIPTOR.services_by_name["DependencyReader"]
    assert [m.name for m in deps.methods] == ["GetDependencies"]
    assert {f.name: f.number for f in dependency_storage_pb2.Dependency.DESCRIPTOR.fields} == {
        "parent": 1, "child": 2, "call_count": 3, "source": 4,
    }  # fmt: skip
