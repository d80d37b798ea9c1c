"""Spans leave the process through the real OTLP exporters (gRPC and HTTP) and arrive intact.

Each scenario runs in a fresh interpreter: OpenTelemetry's global provider can be set
once per process, and configure() is about exactly that.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.otlp_receiver import OTLPReceiver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow


def run_script(body: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = textwrap.dedent(body)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env)
    full_env["PYTHONPATH"] = ROOT
    proc = subprocess.run([sys.executable, "-c", script], env=full_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


MODEL = textwrap.dedent(
    """
    import numpy as np
    import modeltrace

    @modeltrace.trace_model(
        name="fraud", version="4", framework="numpy", feature_names=["amount", "age"], profile_rate=1.0
    )
    def predict(x):
        with modeltrace.step("features"):
            pass
        return (x[:, 0] > 100).astype(int)

    def serve():
        predict(np.array([[250.0, 31.0], [12.5, 64.0]]))
        modeltrace.log_actual(modeltrace.current_prediction_id(), [1, 0], model="fraud")
    """
)
MODEL_SCRIPT = MODEL + "\nmodeltrace.configure({configure_args})\nserve()\n"


def check_arrived(spans, service="fraud-api"):
    by_name = {s["name"]: s for s in spans}
    model, step, feedback = by_name["predict fraud"], by_name["features"], by_name["feedback fraud"]
    assert model["resource"]["service.name"] == service
    assert model["scope"] == "modeltrace"
    a = model["attributes"]
    assert a["ml.model.name"] == "fraud" and a["ml.model.version"] == "4"
    assert a["ml.input.rows"] == 2 and a["ml.input.columns"] == 2
    assert json.loads(a["ml.input.sample"]) == {"amount": [250, 12.5], "age": [31, 64]}
    assert json.loads(a["ml.output.sample"]) == {"prediction": [1, 0]}
    assert a["ml.profile.sampled"] is True
    assert isinstance(json.loads(a["ml.profile.hotspots"]), list)
    assert step["parent_span_id"] == model["span_id"] and step["trace_id"] == model["trace_id"]
    fa = feedback["attributes"]
    assert fa["ml.prediction.id"] == a["ml.prediction.id"] == model["trace_id"] + model["span_id"]
    assert json.loads(fa["ml.actual"]) == [1, 0]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_configure_arguments_export_over_otlp(protocol):
    with OTLPReceiver() as receiver:
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        args = f'service_name="fraud-api", endpoint="{endpoint}", protocol="{protocol}", headers={{"x-team": "risk"}}'
        run_script(MODEL_SCRIPT.format(configure_args=args), {})
        spans = receiver.received.wait_for(3)
        check_arrived(spans)
        assert all(h.get("x-team") == "risk" for h in receiver.received.headers)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otel_environment_variables_are_honoured(protocol):
    with OTLPReceiver() as receiver:
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        env = {
            "OTEL_SERVICE_NAME": "fraud-api",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint if protocol == "grpc" else endpoint + "/v1/traces",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=risk",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,host.name=web-3",
        }
        run_script(MODEL_SCRIPT.format(configure_args=""), env)
        spans = receiver.received.wait_for(3)
        check_arrived(spans)
        assert spans[0]["resource"]["deployment.environment"] == "prod"
        assert all(h.get("x-team") == "risk" for h in receiver.received.headers)


def test_existing_global_provider_is_reused():
    with OTLPReceiver() as receiver:
        app = f"""
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            app = TracerProvider(resource=Resource.create({{"service.name": "fraud-api"}}))
            exporter = OTLPSpanExporter(endpoint="{receiver.http_endpoint}/v1/traces")
            app.add_span_processor(BatchSpanProcessor(exporter))
            trace.set_tracer_provider(app)
        """
        script = (
            textwrap.dedent(app)
            + MODEL
            + textwrap.dedent(
                """
            assert modeltrace.configure(service_name="ignored") is app
            with trace.get_tracer("app").start_as_current_span("POST /score"):
                serve()
            """
            )
        )
        run_script(script, {})
        spans = receiver.received.wait_for(4)
        check_arrived(spans)
        by_name = {s["name"]: s for s in spans}
        assert by_name["predict fraud"]["parent_span_id"] == by_name["POST /score"]["span_id"]
        assert len(spans) == 4  # exported once, by the application's own exporter


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_from_forked_workers_arrive_once(protocol):
    with OTLPReceiver() as receiver:
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        script = f"""
            import os
            import modeltrace

            modeltrace.configure(service_name="fraud-api", endpoint="{endpoint}", protocol="{protocol}")

            @modeltrace.trace_model(name="fraud", profile_rate=0)
            def predict(x):
                return x

            predict(-1.0)
            modeltrace.flush()  # the exporter's connection is in use before the fork
            predict(0.0)  # and one span is queued, not yet exported: children must not resend it
            children = []
            for worker in (1, 2):
                pid = os.fork()
                if pid == 0:
                    predict(float(worker))
                    modeltrace.flush()
                    os._exit(0)
                children.append(pid)
            for pid in children:
                _, status = os.waitpid(pid, 0)
                assert status == 0
            predict(3.0)
        """
        run_script(script, {})
        spans = receiver.received.wait_for(5)
        inputs = sorted(json.loads(s["attributes"]["ml.input.sample"])["f0"][0] for s in spans)
        assert inputs == [-1, 0, 1, 2, 3]


def test_importing_modeltrace_stays_light():
    proc = run_script(
        """
        import sys
        import modeltrace
        heavy = {"pandas", "scipy", "torch", "sklearn", "chdb", "clickhouse_connect", "modeltrace_collector", "grpc"}
        print(sorted(m for m in heavy if m in sys.modules))
        """,
        {},
    )
    assert proc.stdout.strip() == "[]"


def test_configure_again_redirects_spans_and_works_after_shutdown():
    with OTLPReceiver() as first, OTLPReceiver() as second, OTLPReceiver() as third:
        run_script(
            f"""
            import modeltrace

            @modeltrace.trace_model(name="m", profile_rate=0)
            def predict(x):
                return x

            modeltrace.configure(service_name="svc", endpoint="{first.http_endpoint}")
            predict(1.0)
            modeltrace.configure(endpoint="{second.grpc_endpoint}", protocol="grpc")
            predict(2.0)
            modeltrace.shutdown()
            modeltrace.configure(endpoint="{third.http_endpoint}")
            predict(3.0)
            """,
            {},
        )
        got = []
        for receiver in (first, second, third):
            spans = receiver.received.wait_for(1)
            got.append([json.loads(s["attributes"]["ml.input.sample"])["f0"][0] for s in spans])
            assert all(s["resource"]["service.name"] == "svc" for s in spans)
        assert got == [[1], [2], [3]]
