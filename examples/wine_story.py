"""One serving host of the ``make demo`` story: a real scikit-learn model, real predict calls.

    python examples/wine_story.py --endpoint http://127.0.0.1:4317 --host node-b --phase baseline
    python examples/wine_story.py --endpoint http://127.0.0.1:4317 --host node-b --phase incident

* baseline: version 1.0 serves wine samples like those it was trained on;
* incident: version 2.0 is deployed, and the incoming ``alcohol`` values have drifted upwards.
  On node-b version 2.0 is slow (it runs without the accelerated kernels that host lacks; the
  demo stands in for that with a 100 ms stall inside predict).

The story's calls are ``predict`` calls, the demo's own first run (``sklearn_wine.py``, timed
as it really runs on this machine) calls ``predict_proba``: each operation is its own latency
series, so the real calls are never judged against the story's scripted times.

So that the demo takes a minute instead of an afternoon, each phase's calls are stamped as if
spread over ``--minutes`` of wall time ending ``--ends-ago`` minutes before now. The calls are
real (the model runs, its inputs and outputs are recorded, profiled calls show where the time
goes), but their start and end times come from the story's script, seeded: a busy machine
timing the real calls would blur the slow release the story is about, and the demo would find
it on one machine and not on another.
"""

from __future__ import annotations

import argparse
import time
import zlib

import numpy as np
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import modeltrace
from modeltrace._internal import state

data = load_wine(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, random_state=0)


class StoryClock:
    """The SDK's clock during one call: its start, then its start plus the story's duration (the
    SDK reads the clock once when a call begins and once when it ends)."""

    def __init__(self) -> None:
        self.start_ns = 0
        self.duration_ns = 0
        self.reads = 0

    def at(self, start_ns: int, duration_ns: int) -> None:
        self.start_ns, self.duration_ns, self.reads = start_ns, duration_ns, 0

    def __call__(self) -> int:
        self.reads += 1
        return self.start_ns if self.reads == 1 else self.start_ns + self.duration_ns


class StalledModel:
    """Version 2.0 on a host without its accelerated kernels."""

    def __init__(self, model: RandomForestClassifier) -> None:
        self.model = model
        self.classes_ = model.classes_

    def predict(self, x: object) -> np.ndarray:
        time.sleep(0.1)
        return self.model.predict(x)  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--phase", choices=("baseline", "incident"), required=True)
    p.add_argument("--minutes", type=float, default=60)
    p.add_argument("--ends-ago", type=float, default=0)
    p.add_argument("--calls-per-minute", type=int, default=12)
    p.add_argument("--slow-host", default="node-b")
    args = p.parse_args()
    modeltrace.configure(
        service_name="wine-service",
        endpoint=args.endpoint,
        protocol="grpc",
        resource_attributes={"host.name": args.host, "deployment.environment": "demo"},
    )

    incident = args.phase == "incident"
    version = "2.0" if incident else "1.0"
    model = RandomForestClassifier(n_estimators=30, random_state=1 if incident else 0).fit(X_train, y_train)
    served = StalledModel(model) if incident and args.host == args.slow_host else model
    modeltrace.instrument(served, name="wine-quality", version=version, framework="sklearn", profile_rate=0.05)

    # a seed of its own per host and phase, the same at every run (hash() of a str is not)
    rng = np.random.default_rng(zlib.crc32(f"{args.host}/{args.phase}".encode()))
    stalled = served is not model
    clock = StoryClock()
    state.now_ns = clock
    n = int(args.minutes * args.calls_per_minute)
    now = time.time_ns()
    first = now - int((args.minutes + args.ends_ago) * 60e9)
    step = int(args.minutes * 60e9 / n)
    for i in range(n):
        # a wine like those the model was trained on, with a little measurement noise
        row = X_train.iloc[[int(rng.integers(len(X_train)))]].copy()
        row += rng.normal(0, 0.02, row.shape[1]) * X_train.std().to_numpy()
        if incident:
            row["alcohol"] += 1.6  # the supplier changed: stronger wines arrive
        # a forest of 30 trees answers one row in about 2.5 ms; 100 ms more where it stalls
        duration_ms = 1.8 + rng.gamma(4.0, 0.2) + (100.0 if stalled else 0.0)
        clock.at(first + i * step, int(duration_ms * 1e6))
        served.predict(row)
    state.now_ns = time.time_ns
    modeltrace.flush()
    modeltrace.shutdown()


if __name__ == "__main__":
    main()
