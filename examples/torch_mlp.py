"""modeltrace on a PyTorch model (CPU).

    python examples/torch_mlp.py                                   # print the spans it produces
    python examples/torch_mlp.py --endpoint http://127.0.0.1:4317  # send them to a collector

A small MLP classifies the digits data set that ships with scikit-learn. The module is
instrumented once (``forward``, so ``net(x)`` is traced) and served in batches of varying
size; one batch in ten runs under cProfile.
"""

from __future__ import annotations

import argparse
import json

import torch
from sklearn.datasets import load_digits

import modeltrace


class DigitNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.layers(x), dim=1)


def train(net: DigitNet, x: torch.Tensor, y: torch.Tensor, epochs: int = 60) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = torch.nn.NLLLoss()
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(torch.log(net(x) + 1e-9), y)
        loss.backward()
        opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="OTLP/gRPC endpoint of a collector")
    parser.add_argument("--batches", type=int, default=50)
    args = parser.parse_args()
    exporter = None
    if args.endpoint:
        modeltrace.configure(service_name="digits-api", endpoint=args.endpoint, protocol="grpc")
    else:
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        modeltrace.configure(service_name="digits-api", exporter=exporter)

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    torch.manual_seed(0)
    net = DigitNet()
    train(net, x[:1200], y[:1200])  # training is not traced: instrument after it
    modeltrace.instrument(net, name="digits", version="1", output="scores", profile_rate=0.1, labels=list(range(10)))

    with torch.no_grad():
        for i in range(args.batches):
            start = 1200 + (i * 7) % 500
            net(x[start : start + 1 + i % 16])
    modeltrace.flush()

    if exporter is not None:
        spans = exporter.get_finished_spans()
        print(f"{len(spans)} spans of {spans[0].name!r}")
        last = spans[-1].attributes
        print(f"  rows per call: {[s.attributes['ml.input.rows'] for s in spans[:10]]} ...")
        print(f"  input columns: {last['ml.input.columns']}")
        print(f"  output sample: {last['ml.output.sample']}")
        profiled = [s for s in spans if s.attributes.get("ml.profile.sampled")]
        if profiled:
            top = json.loads(profiled[0].attributes["ml.profile.hotspots"])[0]
            print(f"  profiled calls: {len(profiled)}; top hotspot {top['function']} ({top['self_ms']} ms self)")
    modeltrace.shutdown()


if __name__ == "__main__":
    main()
