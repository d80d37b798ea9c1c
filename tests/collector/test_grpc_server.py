"""The gRPC server wrapper: a handler still running when the server stops does not keep the
process from exiting."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent(
    """
    import threading, time
    import grpc
    from modeltrace_collector.net.listener import GrpcServer

    def slow(request, context):
        time.sleep(1.0)  # still running when the server stops, then answers with an error
        context.abort(grpc.StatusCode.UNAVAILABLE, "too late")

    server = GrpcServer("127.0.0.1:0", "test-grpc", workers=2)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "t.S", {"Slow": grpc.unary_unary_rpc_method_handler(slow)}),))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    call = channel.unary_unary("/t.S/Slow", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    threading.Thread(target=lambda: call.future(b"x"), daemon=True).start()
    time.sleep(0.3)
    server.stop(0.1)
    server.stop(0.1)  # a second stop returns at once
    print("stopped")
    """
)


def test_stop_twice_and_a_handler_running_past_stop_neither_blocks_nor_holds_the_process():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT + "/collector", ROOT + "/sdk", ROOT])}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "stopped"
