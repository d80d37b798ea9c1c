"""A big, realistic modeltrace store for UI and API speed benchmarks, built in a few minutes.

    python tests/bench/ui_store.py --path DIR [--spans N] [--days D] [--models M] [--no-analysis]
    python tests/bench/ui_store.py --path DIR --check     # its spans against the SDK's, again

DIR becomes an embedded chDB store made the way the collector makes one (``service.make_store``
and its migrations), holding at least ``--spans`` spans (default 5,000,000) of ``--models``
models (default 50) over the ``--days`` days ending now (default 7). The rows are generated inside
ClickHouse (``INSERT INTO otel_traces SELECT ... FROM numbers_mt()``, a day or 500,000 calls per
insert), so the materialized views derive ``ml_predictions``, ``ml_features``, ``ml_hotspots``,
``ml_actuals``, ``ml_latency_minutes`` and the trace index exactly as they do at ingest. Each
predict span carries what ``@trace_model`` sends, attribute for attribute (``compare_with_sdk``
checks it against spans of the real SDK stored through the collector's own flatten): identity, an
input sample of 8 numeric and 2 categorical features (batches: 12 sampled rows, and the input
statistics), the output sample, cProfile hotspots on 1% of calls, the OTel resource with
``host.name`` of one of four pods per service, and on 1% of calls status Error with an exception
event. 30% of calls have two step spans under them (``feature_fetch``/``preprocess``). Besides:

* every model has 1-3 versions, the later ones first seen partway through the week; traffic per
  model falls off like Zipf's law and follows the time of day (busiest at 15:00 UTC);
* ``LATENCY_MODEL`` gets a version ``LATENCY_DEPLOY_AGO_S`` before the end that is twice as slow
  (with a new hotspot function), ``DRIFT_MODEL`` one ``DRIFT_DEPLOY_AGO_S`` before the end whose
  inputs (``DRIFTED_FEATURES``, and so its outputs) are shifted;
* ``LABELLED_MODELS`` get ground truth (``log_actual`` feedback spans, so ``ml_actuals``) for 5%
  of their single-row calls, arriving 5 minutes to 3 hours after the call;
* one trace ``BIG_TRACE_ID`` of ``BIG_TRACE_SPANS`` spans (a batch predict with steps nested six
  deep under it), made by the real SDK and stored through the collector's flatten and insert.

Then the parts are merged (as a running collector's merges would have) and the collector's
``Analyzer`` runs at end-2h, end-1h and end (``ANALYSIS_OFFSETS_S``), as its scheduler would, so
``ml_findings`` and ``ml_drift_scores`` hold the latency finding and the drift.

For benchmarks, ``cached_store()`` keeps a built store under ``/tmp/modeltrace-bench-cache/<key>``
(the key names the parameters and a hash of the migrations) and builds it again once it is six
hours old; ``store_info(path)`` tells its age and what it holds (from ``<path>.json``).
chDB locks a store to one process: build it, then start the collector on it
(``--storage-dsn chdb://PATH``), with ``--set analysis.enabled=false`` to keep the findings as
built: the store's traffic ends at its build time, and a scheduled run later resolves them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

import numpy as np

DATABASE = "modeltrace"
DEFAULT_SPANS = 5_000_000
DEFAULT_DAYS = 7.0
DEFAULT_MODELS = 50
SEED = 20_241_117

# The single huge trace: one batch predict span with steps nested six deep under it.
BIG_TRACE_ID = "b16b16b16b16b16b16b16b16b16b16b1"
BIG_TRACE_SPANS = 10_000
BIG_TRACE_AGO_S = 30 * 60  # it starts this long before the end

# The models with a story (the first four of the catalogue, the four busiest).
LATENCY_MODEL = "txn-fraud"  # its new version is twice as slow
# The detector compares a version with less than half an hour of history with the model's other
# versions, and a longer-lived one with its own first half hour: the slow release is recent.
LATENCY_DEPLOY_AGO_S = 25 * 60
DRIFT_MODEL = "churn-propensity"  # its new version sees shifted inputs
DRIFT_DEPLOY_AGO_S = 45 * 60
DRIFTED_FEATURES = ("tenure_months", "monthly_spend", "plan")
LABELLED_MODELS = ("loan-default", "delivery-eta")  # a classifier and a regressor with ground truth
BIG_TRACE_MODEL = "demand-forecast"

ANALYSIS_OFFSETS_S = (2 * 3600, 3600, 0)  # the analysis runs at end minus each of these
ANALYSIS_BUDGET_S = 150.0  # past this, the runs before the last one are skipped
CACHE_DIR = "/tmp/modeltrace-bench-cache"
MAX_AGE_S = 6 * 3600

# Shares of calls.
STEP_SHARE = 0.3  # calls with two child steps (exactly: call index % 10 < 3)
SINGLE_ROW_SHARE = 0.8  # online calls of one row; the others are batches of 2-128 rows
ERROR_RATE = 0.01
PROFILE_RATE = 0.01  # the SDK's default profile_rate
NULL_RATE = 0.01  # one feature per model is sometimes missing (null in the sample)
FEEDBACK_RATE = 0.05  # single-row calls of the labelled models that get ground truth
SAMPLE_ROWS = 12  # what the SDK samples of a 10-feature batch (sample_values=128 // 10)
MAX_CALLS_PER_INSERT = 500_000
SPANS_PER_CALL = 1 + 2 * STEP_SHARE

TABLES = (
    "otel_traces", "otel_traces_trace_id_ts", "ml_predictions", "ml_features", "ml_hotspots", "ml_actuals",
    "ml_latency_minutes", "ml_drift_scores", "ml_findings", "ml_references",
)  # fmt: skip

DAY_NS = 86_400 * 1_000_000_000
SITE = "/usr/local/lib/python3.11/site-packages"

# -- the catalogue ---------------------------------------------------------------------------

# name, mean, sd, decimals, log-normal, low, high (a log-normal feature's mean and sd are of its log)
Num = tuple[str, float, float, int, bool, float, float]
INF = 1e300


def _n(name: str, mean: float, sd: float, dec: int = 2, lo: float = -INF, hi: float = INF) -> Num:
    return (name, mean, sd, dec, False, lo, hi)


def _l(name: str, mu: float, s: float, dec: int = 2, lo: float = -INF) -> Num:
    return (name, mu, s, dec, True, lo, INF)


HOUR = _n("hour_of_day", 14, 5, 0, 0, 23)
DOMAINS: dict[str, dict[str, Any]] = {
    "fraud": {
        "service": "payments-risk",
        "num": [_l("amount", 3.8, 1.0), _n("account_age_days", 420, 300, 0, 0), _l("txn_count_24h", 1.0, 0.8, 0),
                _l("avg_amount_30d", 3.7, 0.7), _l("distance_km", 2.0, 1.3, 1), HOUR,
                _n("merchant_risk", 0.3, 0.15, 4, 0, 1), _l("velocity_1h", 0.2, 0.7, 0)],
        "cat": [("country", ["US", "GB", "DE", "FR", "IN", "BR", "CA", "ES"]),
                ("channel", ["web", "ios", "android", "pos"])],
        "out": (0.0, 1.0),
    },
    "churn": {
        "service": "growth-ml",
        "num": [_n("tenure_months", 26, 18, 0, 0), _l("monthly_spend", 3.6, 0.6), _l("sessions_30d", 2.5, 0.9, 0),
                _l("support_tickets_90d", 0.1, 0.8, 0), _l("days_since_login", 1.5, 1.1, 0),
                _n("discount_pct", 8, 6, 1, 0, 60), _n("plan_price", 29, 12, 2, 0), _n("nps_last", 7, 2, 0, 0, 10)],
        "cat": [("plan", ["basic", "standard", "premium", "family"]), ("region", ["na", "emea", "apac", "latam"])],
        "out": (850.0, 400.0),
    },
    "ads": {
        "service": "ads-serving",
        "num": [_l("bid_cpm", 0.8, 0.6, 3), _n("hist_ctr", 0.021, 0.01, 5, 0, 1), _n("user_age", 36, 12, 0, 13, 90),
                _l("ad_age_hours", 3, 1.2, 1), _n("position", 3, 2, 0, 1, 20), _l("daily_impressions", 8, 1.5, 0),
                _n("creative_score", 0.6, 0.15, 4, 0, 1), HOUR],
        "cat": [("placement", ["feed", "search", "sidebar", "video", "stories"]),
                ("device", ["ios", "android", "desktop"])],
        "out": (1.8, 0.9),
    },
    "logistics": {
        "service": "dispatch-api",
        "num": [_l("distance_km", 1.3, 0.6), _l("items", 1.0, 0.6, 0, 1), _n("prep_minutes_hist", 14, 5, 1, 1),
                _n("courier_speed_kmh", 18, 5, 1, 3), _n("traffic_index", 1.2, 0.3, 3, 0.5), _n("temp_c", 16, 8, 1),
                _l("queue_length", 1.2, 0.8, 0), HOUR],
        "cat": [("city", ["nyc", "london", "berlin", "paris", "madrid", "toronto"]),
                ("vehicle", ["bike", "scooter", "car"])],
        "out": (28.0, 9.0),
    },
    "pricing": {
        "service": "pricing-api",
        "num": [_l("base_price", 3.2, 0.9), _l("competitor_price", 3.2, 0.9), _l("inventory_days", 3, 0.8, 0),
                _n("demand_index", 1, 0.25, 4, 0), _l("views_1h", 4, 1.2, 0),
                _n("conversion_7d", 0.035, 0.015, 5, 0, 1),
                _n("margin_pct", 32, 10, 1), _n("day_of_week", 3, 2, 0, 0, 6)],
        "cat": [("category", ["electronics", "home", "fashion", "grocery", "toys", "sports"]),
                ("region", ["na", "emea", "apac"])],
        "out": (1.05, 0.12),
    },
    "credit": {
        "service": "lending-api",
        "num": [_l("income_k", 4.1, 0.5, 1), _n("debt_to_income", 0.32, 0.12, 4, 0), _n("credit_age_years", 9, 6, 1, 0),
                _n("open_accounts", 6, 3, 0, 0), _n("utilization", 0.35, 0.2, 4, 0, 1),
                _l("delinquencies_2y", -1.5, 1.2, 0),
                _l("loan_amount_k", 2.7, 0.8, 1), _l("inquiries_6m", 0.2, 0.8, 0)],
        "cat": [("employment", ["salaried", "self_employed", "contractor", "retired", "student"]),
                ("purpose", ["debt_consolidation", "home", "car", "education", "other"])],
        "out": (12000.0, 5000.0),
    },
    "search": {
        "service": "search-api",
        "num": [_n("query_len", 3.2, 1.6, 0, 1), _n("bm25", 11, 4, 4, 0), _n("click_rate", 0.08, 0.05, 5, 0, 1),
                _l("doc_age_days", 4, 1.5, 0), _l("popularity", 5, 2, 0), _n("title_match", 0.5, 0.25, 4, 0, 1),
                _l("session_depth", 0.8, 0.7, 0, 1), _l("price", 3.3, 1.1)],
        "cat": [("locale", ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja-JP"]),
                ("device", ["mobile", "desktop", "tablet"])],
        "out": (0.0, 2.0),
    },
    "trust": {
        "service": "trust-safety",
        "steps": ("tokenize", "embed"),
        "num": [_l("text_len", 5, 1, 0), _l("link_count", -0.5, 1, 0), _n("account_age_days", 600, 450, 0, 0),
                _n("caps_ratio", 0.06, 0.05, 4, 0, 1), _l("report_count", -1, 1.1, 0),
                _n("reputation", 0.7, 0.2, 4, 0, 1),
                _l("posts_24h", 0.8, 0.9, 0), _n("similarity", 0.2, 0.15, 4, 0, 1)],
        "cat": [("language", ["en", "es", "pt", "de", "fr", "ja", "other"]), ("source", ["app", "web", "api"])],
        "out": (0.0, 1.0),
    },
    "support": {
        "service": "support-ml",
        "steps": ("tokenize", "embed"),
        "num": [_l("text_len", 5.2, 0.8, 0), _l("prior_tickets", 0.5, 0.9, 0), _n("tenure_months", 20, 15, 0, 0),
                _n("sentiment_raw", -0.1, 0.4, 4, -1, 1), _l("response_hours", 1.5, 1), _l("attachments", -1.2, 1, 0),
                _n("priority_hist", 2, 0.8, 2, 1, 4), _n("words_per_sentence", 14, 5, 1, 1)],
        "cat": [("channel", ["email", "chat", "phone", "social"]), ("language", ["en", "es", "de", "fr", "pt"])],
        "out": (4.1, 0.7),
    },
    "supply": {
        "service": "forecasting",
        "num": [_l("lag_7d_units", 4, 1.1, 0), _l("lag_28d_units", 5.4, 1.1, 0), _l("price", 2.5, 0.9),
                _n("promo_depth", 0.08, 0.1, 3, 0, 0.7), _l("stock_on_hand", 4.5, 1.2, 0),
                _n("lead_time_days", 9, 4, 0, 1),
                _n("seasonality_idx", 1, 0.2, 4, 0.3), _n("holiday_dist_days", 40, 30, 0, 0)],
        "cat": [("store_format", ["hyper", "super", "express", "online"]),
                ("category", ["fresh", "dry", "frozen", "household", "beverages"])],
        "out": (120.0, 60.0),
    },
}  # fmt: skip

# name, domain, output ("proba": predict_proba, label + score; "class": predict, integer classes;
# "reg": predict, a number), class labels (none: integer classes), framework. In order of traffic.
CATALOGUE: list[tuple[str, str, str, tuple[str, ...], str]] = [
    ("txn-fraud", "fraud", "proba", ("legit", "fraud"), "xgboost"),
    ("churn-propensity", "churn", "proba", ("stay", "churn"), "lightgbm"),
    ("loan-default", "credit", "proba", ("repaid", "default"), "sklearn"),
    ("delivery-eta", "logistics", "reg", (), "lightgbm"),
    ("search-ranker", "search", "reg", (), "onnxruntime"),
    ("ctr-predictor", "ads", "proba", (), "pytorch"),
    ("spam-filter", "trust", "proba", ("ham", "spam"), "sklearn"),
    ("ticket-router", "support", "proba", ("billing", "technical", "account", "other"), "pytorch"),
    ("demand-forecast", "supply", "reg", (), "lightgbm"),
    ("dynamic-pricing", "pricing", "reg", (), "xgboost"),
    ("chargeback-risk", "fraud", "proba", (), "xgboost"),
    ("upsell-propensity", "churn", "proba", (), "sklearn"),
    ("cvr-predictor", "ads", "proba", (), "pytorch"),
    ("prep-time", "logistics", "reg", (), "sklearn"),
    ("price-elasticity", "pricing", "reg", (), "sklearn"),
    ("credit-limit", "credit", "reg", (), "xgboost"),
    ("query-intent", "search", "proba", ("navigational", "informational", "transactional"), "pytorch"),
    ("toxicity", "trust", "proba", ("ok", "toxic"), "onnxruntime"),
    ("sentiment", "support", "proba", ("negative", "neutral", "positive"), "pytorch"),
    ("stockout-risk", "supply", "proba", (), "lightgbm"),
    ("account-takeover", "fraud", "class", (), "sklearn"),
    ("ltv-forecast", "churn", "reg", (), "lightgbm"),
    ("bid-shading", "ads", "reg", (), "xgboost"),
    ("courier-assign", "logistics", "reg", (), "onnxruntime"),
    ("discount-optimizer", "pricing", "reg", (), "lightgbm"),
    ("income-verify", "credit", "class", (), "sklearn"),
    ("autocomplete-rank", "search", "reg", (), "onnxruntime"),
    ("fake-review", "trust", "class", (), "sklearn"),
    ("csat-predictor", "support", "reg", (), "sklearn"),
    ("reorder-qty", "supply", "reg", (), "xgboost"),
    ("promo-abuse", "fraud", "class", (), "lightgbm"),
    ("winback-scorer", "churn", "proba", (), "sklearn"),
    ("ad-relevance", "ads", "reg", (), "pytorch"),
    ("late-risk", "logistics", "proba", ("on_time", "late"), "xgboost"),
    ("surge-multiplier", "pricing", "reg", (), "sklearn"),
    ("bnpl-risk", "credit", "proba", (), "xgboost"),
    ("spell-correct-score", "search", "reg", (), "sklearn"),
    ("bot-detector", "trust", "class", (), "lightgbm"),
    ("escalation-risk", "support", "proba", (), "sklearn"),
    ("supplier-delay", "supply", "reg", (), "sklearn"),
    ("card-testing", "fraud", "proba", (), "onnxruntime"),
    ("nps-predictor", "churn", "reg", (), "sklearn"),
    ("budget-pacing", "ads", "reg", (), "sklearn"),
    ("route-cost", "logistics", "reg", (), "xgboost"),
    ("markdown-planner", "pricing", "reg", (), "lightgbm"),
    ("collections-priority", "credit", "reg", (), "lightgbm"),
    ("zero-result-predictor", "search", "class", (), "sklearn"),
    ("kyc-doc-check", "trust", "proba", ("pass", "review"), "pytorch"),
    ("reply-suggest-rank", "support", "reg", (), "onnxruntime"),
    ("warehouse-slotting", "supply", "reg", (), "sklearn"),
]

# cProfile hotspots per framework: function, file, line, calls, calls grow with rows, cum/self
# (0: the whole call). The app's entry point and helpers are added per model.
FRAMEWORK_HOTSPOTS: dict[str, list[tuple[str, str, int, int, bool, float]]] = {
    "xgboost": [
        ("<built-in method _ctypes.PyCFuncPtr.__call__>", "~", 0, 1, False, 1.0),
        ("Booster.inplace_predict", f"{SITE}/xgboost/core.py", 2470, 1, False, 1.9),
        ("_transform_pandas_df", f"{SITE}/xgboost/data.py", 430, 1, False, 1.6),
        ("<method 'astype' of 'numpy.ndarray' objects>", "~", 0, 2, False, 1.0),
        ("XGBClassifier.predict_proba", f"{SITE}/xgboost/sklearn.py", 1646, 1, False, 3.2),
        ("_array_interface", f"{SITE}/xgboost/data.py", 269, 1, False, 1.3),
    ],
    "lightgbm": [
        ("<built-in method _ctypes.PyCFuncPtr.__call__>", "~", 0, 1, False, 1.0),
        ("_InnerPredictor.__pred_for_np2d", f"{SITE}/lightgbm/basic.py", 1262, 1, False, 1.8),
        ("_data_from_pandas", f"{SITE}/lightgbm/basic.py", 800, 1, False, 1.5),
        ("<method 'astype' of 'numpy.ndarray' objects>", "~", 0, 2, False, 1.0),
        ("_InnerPredictor.predict", f"{SITE}/lightgbm/basic.py", 1080, 1, False, 3.0),
        ("Booster.predict", f"{SITE}/lightgbm/basic.py", 4700, 1, False, 3.6),
    ],
    "sklearn": [
        ("<method 'predict' of 'sklearn.tree._tree.Tree' objects>", "~", 0, 100, False, 1.0),
        ("check_array", f"{SITE}/sklearn/utils/validation.py", 733, 101, False, 1.7),
        ("_accumulate_prediction", f"{SITE}/sklearn/ensemble/_forest.py", 700, 100, False, 2.2),
        ("Parallel.__call__", f"{SITE}/joblib/parallel.py", 1863, 1, False, 4.0),
        ("ForestClassifier.predict_proba", f"{SITE}/sklearn/ensemble/_forest.py", 862, 1, False, 5.0),
        ("<built-in method numpy.asarray>", "~", 0, 204, False, 1.0),
    ],
    "pytorch": [
        ("<built-in method torch._C._nn.linear>", "~", 0, 3, False, 1.0),
        ("<built-in method torch.relu>", "~", 0, 2, False, 1.0),
        ("Module._call_impl", f"{SITE}/torch/nn/modules/module.py", 1747, 6, False, 2.4),
        ("Linear.forward", f"{SITE}/torch/nn/modules/linear.py", 124, 3, False, 1.5),
        ("<built-in method torch.softmax>", "~", 0, 1, False, 1.0),
        ("<built-in method torch.as_tensor>", "~", 0, 1, False, 1.0),
    ],
    "onnxruntime": [
        ("<method 'run' of 'onnxruntime.capi.onnxruntime_pybind11_state.InferenceSession' objects>", "~", 0, 1,
         False, 1.0),
        ("Session.run", f"{SITE}/onnxruntime/capi/onnxruntime_inference_collection.py", 266, 1, False, 1.2),
        ("<method 'astype' of 'numpy.ndarray' objects>", "~", 0, 1, False, 1.0),
        ("<built-in method numpy.ascontiguousarray>", "~", 0, 1, False, 1.0),
        ("<dictcomp>", f"{SITE}/onnxruntime/capi/onnxruntime_inference_collection.py", 281, 1, False, 1.0),
        ("<method 'get' of 'dict' objects>", "~", 0, 12, False, 1.0),
    ],
}  # fmt: skip


@dataclass(frozen=True)
class BenchModel:
    """One model of the store, with what its generated calls look like."""

    name: str
    domain: str
    service: str
    output: str  # proba | class | reg
    labels: tuple[str, ...]
    framework: str
    operation: str
    weight: float  # share of the calls
    median_ms: float
    sigma: float
    versions: tuple[str, ...]
    deploys_ns: tuple[int, ...]  # when each version is first seen (the first: before the start)
    version_latency: tuple[float, ...]  # latency factor of each version
    shifts: tuple[tuple[float, ...], ...]  # per version, per numeric feature, in sd units
    cat_weights: tuple[tuple[tuple[float, ...], ...], ...]  # per version, per categorical feature
    hosts: tuple[str, ...]
    steps: tuple[str, str]
    labelled: bool

    @property
    def span_name(self) -> str:
        return f"{self.operation} {self.name}"

    @property
    def classes(self) -> int:
        return len(self.labels) or 2


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _pod(service: str, rng: random.Random) -> str:
    """A Kubernetes pod name: service-<replica set hash>-<suffix>."""
    return f"{service}-{_hex(rng, 9)}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"


def catalogue(models: int = DEFAULT_MODELS, days: float = DEFAULT_DAYS, end_ns: int = 0) -> list[BenchModel]:
    """The models of a store ending at ``end_ns`` (their deploys depend on the time span)."""
    if models < 4:
        raise ValueError("the store needs at least 4 models (the latency, drift and labelled ones)")
    start_ns = end_ns - int(days * DAY_NS)
    zipf = [1 / (k + 1) ** 0.8 for k in range(models)]
    total = sum(zipf)
    pods: dict[str, tuple[str, ...]] = {}
    out = []
    for k in range(models):
        name, domain, output, labels, framework = CATALOGUE[k % len(CATALOGUE)]
        if k >= len(CATALOGUE):
            name = f"{name}-{k // len(CATALOGUE) + 1}"
        rng = random.Random(f"{SEED}/{name}")
        spec = DOMAINS[domain]
        service = spec["service"]
        if service not in pods:
            prng = random.Random(f"{SEED}/{service}")
            pods[service] = tuple(_pod(service, prng) for _ in range(4))
        n_versions = 2 if name in (LATENCY_MODEL, DRIFT_MODEL) else 1 + rng.randrange(3)
        major, minor = rng.randint(1, 4), rng.randint(0, 12)
        versions = tuple(f"{major}.{minor + v}.{rng.randint(0, 3) if v else 0}" for v in range(n_versions))
        span = end_ns - start_ns
        if name == LATENCY_MODEL:
            deploys = [0, max(start_ns, end_ns - LATENCY_DEPLOY_AGO_S * 1_000_000_000)]
        elif name == DRIFT_MODEL:
            deploys = [0, max(start_ns, end_ns - DRIFT_DEPLOY_AGO_S * 1_000_000_000)]
        else:
            later = sorted(start_ns + int(span * rng.uniform(0.15, 0.85)) for _ in range(n_versions - 1))
            deploys = [0, *later]
        latency = [1.0] + [round(rng.uniform(0.85, 1.15), 3) for _ in range(n_versions - 1)]
        if name == LATENCY_MODEL:
            latency[1] = 2.0
        n_num = len(spec["num"])
        shifts = [tuple(0.0 for _ in range(n_num)) for _ in range(n_versions)]
        cats = []
        for _, values in spec["cat"]:
            w = [1 / (j + 1) ** 1.1 for j in range(len(values))]
            cats.append(tuple(x / sum(w) for x in w))
        cat_weights = [tuple(cats) for _ in range(n_versions)]
        if name == DRIFT_MODEL:
            names = [f[0] for f in spec["num"]]
            shifted = [1.2 if f in DRIFTED_FEATURES else 0.0 for f in names]
            shifts[1] = tuple(shifted)
            cat_names = [c[0] for c in spec["cat"]]
            moved = []
            for cname, w in zip(cat_names, cats):
                if cname in DRIFTED_FEATURES:  # the third value takes a third of the calls
                    w = tuple(0.67 * x + (0.33 if j == 2 else 0.0) for j, x in enumerate(w))
                moved.append(w)
            cat_weights[1] = tuple(moved)
        median = 18.0 if name == LATENCY_MODEL else math.exp(rng.uniform(math.log(2.0), math.log(120.0)))
        sigma = 0.22 if name == LATENCY_MODEL else rng.uniform(0.25, 0.5)
        out.append(
            BenchModel(
                name=name,
                domain=domain,
                service=service,
                output=output,
                labels=labels,
                framework=framework,
                operation="predict_proba" if output == "proba" else "predict",
                weight=zipf[k] / total,
                median_ms=round(median, 3),
                sigma=round(sigma, 3),
                versions=versions,
                deploys_ns=tuple(deploys),
                version_latency=tuple(latency),
                shifts=tuple(shifts),
                cat_weights=tuple(cat_weights),
                hosts=pods[service],
                steps=spec.get("steps", ("feature_fetch", "preprocess")),
                labelled=name in LABELLED_MODELS,
            )
        )
    return out


def _hotspots(model: BenchModel, version: int) -> list[tuple[str, str, int, int, bool, float, float]]:
    """Ten hotspot rows (function, file, line, calls, per row, cum factor, share of the call's time),
    by falling self time as the SDK sorts them."""
    app = f"/srv/app/{model.service.replace('-', '_')}"
    cls = "".join(part.title() for part in model.name.split("-")) + "Model"
    rows = [
        *FRAMEWORK_HOTSPOTS[model.framework],
        ("build_frame", f"{app}/features.py", 112, 1, False, 2.5),
        (f"{cls}.{model.operation}", f"{app}/model.py", 57, 1, False, 0.0),
        ("<built-in method builtins.isinstance>", "~", 0, 40, True, 1.0),
        ("DataFrame.__init__", f"{SITE}/pandas/core/frame.py", 694, 1, False, 3.0),
    ]
    if model.name == LATENCY_MODEL and version > 0:  # the slow release: a new feature cross
        rows.insert(0, ("FeatureCrosser.transform", f"{app}/features/crosses.py", 88, 1, True, 1.05))
    rows = rows[:10]
    share = [0.55**k for k in range(len(rows))]
    if model.name == LATENCY_MODEL and version > 0:
        share[0] = sum(share[1:])  # half of the (doubled) time goes to the new function
    total = sum(share)
    return [(*r, s / total) for r, s in zip(rows, share)]


def _errors(model: BenchModel) -> list[tuple[str, str, str, str]]:
    """(error.type, status message, exception.message, exception.stacktrace) of the model's failures."""
    app = f"/srv/app/{model.service.replace('-', '_')}"
    cls = "".join(part.title() for part in model.name.split("-")) + "Model"
    frames = (
        'Traceback (most recent call last):\n  File "{site}/modeltrace/_internal/decorator.py", line 40, in wrapper\n'
        "    result = func(*args, **kwargs)\n             ^^^^^^^^^^^^^^^^^^^^^\n"
        '  File "{app}/model.py", line 61, in {op}\n    {line}\n'
    )
    out = []
    for type_, name, message, line in (
        ("ValueError", "ValueError", "Input X contains NaN.", "return self.model.predict_proba(self.frame(x))"),
        ("KeyError", "KeyError", "'merchant_id'", "features = self.store.lookup(x['merchant_id'])"),
        ("TimeoutError", "TimeoutError", "feature store did not answer within 50 ms", "rows = self.fetch(x)"),
    ):
        stack = frames.format(site=SITE, app=app, op=f"{cls}.{model.operation}".split(".")[-1], line=line)
        out.append((type_, f"{name}: {message}", message, f"{stack}{name}: {message}\n"))
    return out


# -- SQL generation ----------------------------------------------------------------------------


def _lit(v: Any) -> str:
    """A ClickHouse literal."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_lit(x) for x in v) + "]"
    raise TypeError(f"no literal for {v!r}")


def _key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False) + ":"


def _output_kind(m: BenchModel) -> int:
    """0: label strings and scores, 1: integer labels and scores, 2: integer classes, 3: numbers."""
    if m.output == "proba":
        return 0 if m.labels else 1
    return 2 if m.output == "class" else 3


def _constants(cat: list[BenchModel]) -> str:
    """The catalogue as constant arrays indexed by model number (1-based), for the WITH clause."""
    doms = [DOMAINS[m.domain] for m in cat]
    cum, acc = [], 0.0
    for m in cat:
        acc += m.weight
        cum.append(acc)
    cum[-1] = 1.0

    def cumulative(w: Sequence[float]) -> list[float]:
        out = list(np.cumsum(w))
        out[-1] = 1.0
        return [float(x) for x in out]

    hot = [[_hotspots(m, v) for v in range(len(m.versions))] for m in cat]
    errs = [_errors(m) for m in cat]
    inst = [
        [[str(uuid.UUID(int=random.Random(f"{m.name}/{v}/{h}").getrandbits(128), version=4)) for h in m.hosts]
         for v in range(len(m.versions))]
        for m in cat
    ]  # fmt: skip
    const: dict[str, Any] = {
        "CUMW": cum,
        "M_NAME": [m.name for m in cat],
        "M_SPAN": [m.span_name for m in cat],
        "M_SERVICE": [m.service for m in cat],
        "M_FRAMEWORK": [m.framework for m in cat],
        "M_OP": [m.operation for m in cat],
        "M_KIND": [_output_kind(m) for m in cat],
        "M_NCLASS": [m.classes for m in cat],
        "M_LABELQ": [[json.dumps(x) for x in m.labels] or [""] for m in cat],
        "M_BIAS": [float(random.Random(f"{m.name}/bias").uniform(-2.0, 0.5)) for m in cat],
        "M_OUTMU": [float(d["out"][0]) for d in doms],
        "M_OUTSD": [float(d["out"][1]) for d in doms],
        "M_MED": [m.median_ms for m in cat],
        "M_SIG": [m.sigma for m in cat],
        "M_DEPLOY": [list(m.deploys_ns) for m in cat],
        "M_VERSION": [list(m.versions) for m in cat],
        "M_VLAT": [list(m.version_latency) for m in cat],
        "M_SHIFT": [[list(s) for s in m.shifts] for m in cat],
        "M_CATCUM": [[[cumulative(w) for w in per_version] for per_version in m.cat_weights] for m in cat],
        "M_NUMKEY": [[_key(f[0]) for f in d["num"]] for d in doms],
        "M_MU": [[float(f[1]) for f in d["num"]] for d in doms],
        "M_SD": [[float(f[2]) for f in d["num"]] for d in doms],
        "M_P10": [[float(10 ** f[3]) for f in d["num"]] for d in doms],
        "M_LOG": [[int(f[4]) for f in d["num"]] for d in doms],
        "M_LO": [[float(f[5]) for f in d["num"]] for d in doms],
        "M_HI": [[float(f[6]) for f in d["num"]] for d in doms],
        "M_CATKEY": [[_key(c[0]) for c in d["cat"]] for d in doms],
        "M_CATQ": [[[json.dumps(v) for v in c[1]] for c in d["cat"]] for d in doms],
        "M_HOST": [list(m.hosts) for m in cat],
        "M_INST": inst,
        "M_STEP": [list(m.steps) for m in cat],
        "M_ERRTYPE": [[e[0] for e in es] for es in errs],
        "M_ERRSTATUS": [[e[1] for e in es] for es in errs],
        "M_ERRMSG": [[e[2] for e in es] for es in errs],
        "M_ERRSTACK": [[e[3] for e in es] for es in errs],
        "M_HOTHEAD": [
            [
                [f'{{"function":{json.dumps(h[0])},"file":{json.dumps(h[1])},"line":{h[2]},"calls":' for h in hv]
                for hv in hm
            ]
            for hm in hot
        ],
        "M_HOTCALLS": [[[h[3] for h in hv] for hv in hm] for hm in hot],
        "M_HOTROW": [[[int(h[4]) for h in hv] for hv in hm] for hm in hot],
        "M_HOTCUM": [[[float(h[5]) for h in hv] for hv in hm] for hm in hot],
        "M_HOTSHARE": [[[float(h[6]) for h in hv] for hv in hm] for hm in hot],
        "M_LABELLED": [int(m.labelled) for m in cat],
    }
    return ",\n".join(f"{_lit(v)} AS {k}" for k, v in const.items())


def _u(key: str) -> str:
    """A uniform number in (0, 1) from the call index and ``key`` (an SQL expression)."""
    return f"((cityHash64({SEED}, i, {key}) % 4294967296) + 0.5) / 4294967296"


def _z(key_a: str, key_b: str) -> str:
    """A standard normal number (Box-Muller) from two uniforms."""
    return f"(sqrt(-2 * log({_u(key_a)})) * cos(2 * pi() * {_u(key_b)}))"


def _id(key: str, width: int = 16) -> str:
    return f"leftPad(lower(hex(cityHash64({SEED}, i, {key}))), {width}, '0')"


@dataclass(frozen=True)
class Chunk:
    """Calls [first, first + count) of one day of the span."""

    first: int
    count: int
    day_first: int  # the day's first call and number of calls
    day_count: int
    day_start_ns: int
    day_ns: int
    amplitude: float  # of the daily traffic cycle (0 for a partial day)
    phase: float  # where in the day the busiest time is (0-1)


def chunks(calls: int, days: float, end_ns: int, per_insert: int = MAX_CALLS_PER_INSERT) -> list[Chunk]:
    """Split the calls by day (in proportion to each day's length), then into inserts."""
    start_ns = end_ns - int(days * DAY_NS)
    out = []
    n_days = math.ceil(days - 1e-9)
    first = 0
    for d in range(n_days):
        day_start = start_ns + d * DAY_NS
        day_ns = min(DAY_NS, end_ns - day_start)
        day_last = round(calls * (day_start + day_ns - start_ns) / (end_ns - start_ns))
        day_count = day_last - first
        full = day_ns == DAY_NS
        # the busiest time of day at 15:00 UTC, the quietest at 03:00, three times less busy
        phase = (((15 * 3600 * 10**9) - day_start) % DAY_NS) / DAY_NS
        pieces = max(1, math.ceil(day_count / per_insert))
        for p in range(pieces):
            a = first + day_count * p // pieces
            b = first + day_count * (p + 1) // pieces
            out.append(Chunk(a, b - a, first, day_count, day_start, day_ns, 0.5 if full else 0.0, phase))
        first = day_last
    return out


_BASE = Template("""
    SELECT
        number AS i,
        $u_model AS um,
        toUInt32(arrayFirstIndex(c -> c >= um, CUMW)) AS m,
        (i - $day_first + $u_time) / $day_count AS tu,
        $day_start + toInt64((tu - $amp / (2 * pi()) * (sin(2 * pi() * (tu - $phase)) + sin(2 * pi() * $phase)))
            * $day_ns) AS ts,
        toUInt32(arrayCount(d -> d <= ts, M_DEPLOY[m])) AS ver,
        if($u_single < $single, toUInt32(1), toUInt32(2 + floor(pow($u_rows, 2) * 127))) AS rows,
        least(rows, $sample_rows) AS sr,
        $u_err < $error_rate AS err,
        $u_prof < $profile_rate AS prof,
        i % 10 < $step_tenths AS steps,
        toUInt32(1 + cityHash64($seed, i, 7) % length(M_HOST[m])) AS h,
        toUInt32(1 + cityHash64($seed, i, 10) % 3) AS e,
        M_MED[m] * M_VLAT[m][ver] * exp(M_SIG[m] * $z_lat) * (1 + (rows - 1) / 40)
            * if(prof, 1.35, 1) * if(err, 0.6, 1) AS dur_ms,
        toUInt64(greatest(dur_ms, 0.2) * 1e6) AS dur,
        concat($tid1, $tid2) AS tid,
        $sid AS sid
    FROM numbers_mt($first, $count)
""")

# The first ``nr`` sampled rows of each call: numeric features as standard scores (shifted by
# version), categories as indexes into their values, and what the model answers for them.
_ROWS = Template("""
    SELECT *,
        arrayMap(f -> arrayMap(r -> $z_val + M_SHIFT[m][ver][f + 1], range(nr)), range(8)) AS zs,
        arrayMap(c -> arrayMap((r, x) -> toUInt32(arrayFirstIndex(w -> w >= x, M_CATCUM[m][ver][c + 1])),
                               range(nr), arrayMap(r -> $u_cat, range(nr))), range(2)) AS cp,
        arrayMap(r -> 1 / (1 + exp(-(M_BIAS[m] + 1.3 * zs[1][r + 1] + 0.9 * $z_out))), range(nr)) AS p,
        arrayMap(r -> if(M_NCLASS[m] = 2, toUInt32(if(p[r + 1] > 0.5, 2, 1)),
                         toUInt32(least(M_NCLASS[m], 1 + floor(pow($u_class, 1.6) * M_NCLASS[m])))), range(nr)) AS lab,
        arrayMap(r -> round((M_OUTMU[m] + M_OUTSD[m] * (0.8 * zs[1][r + 1] + 0.6 * $z_out)) * 10000) / 10000,
                 range(nr)) AS regv
    FROM ($source)
""")

_VALUES = """
    arrayMap(f -> arrayMap(r -> if(f = 4 AND $u_null < $null_rate, nan,
        round(greatest(M_LO[m][f + 1], least(M_HI[m][f + 1],
            if(M_LOG[m][f + 1] = 1, exp(M_MU[m][f + 1] + M_SD[m][f + 1] * zs[f + 1][r + 1]),
               M_MU[m][f + 1] + M_SD[m][f + 1] * zs[f + 1][r + 1]))) * M_P10[m][f + 1]) / M_P10[m][f + 1]),
        range(nr)), range(8))
"""

# The predict span of each call, as the SDK sends it (attribute order included).
_CALL = Template("""
    SELECT *,
        $values AS vals,
        concat('{',
            arrayStringConcat(arrayMap(f -> concat(M_NUMKEY[m][f + 1], '[',
                arrayStringConcat(arrayMap(v -> if(isNaN(v), 'null', toString(v)), vals[f + 1]), ','), ']'),
                range(8)), ','),
            ',',
            arrayStringConcat(arrayMap(c -> concat(M_CATKEY[m][c + 1], '[',
                arrayStringConcat(arrayMap(x -> M_CATQ[m][c + 1][x], cp[c + 1]), ','), ']'), range(2)), ','),
            '}') AS input_sample,
        -- statistics of the batch (sent when rows were sampled), scaled up from the sample
        if(rows <= sr OR nr = 0, '', concat('{',
            arrayStringConcat(arrayMap(f -> concat(M_NUMKEY[m][f + 1],
                '{"count":', toString(rows - toUInt32(round(arrayCount(v -> isNaN(v), vals[f + 1]) * rows / sr))),
                ',"nulls":', toString(toUInt32(round(arrayCount(v -> isNaN(v), vals[f + 1]) * rows / sr))),
                ',"min":', if(arrayAll(v -> isNaN(v), vals[f + 1]), 'null',
                              toString(arrayMin(arrayFilter(v -> NOT isNaN(v), vals[f + 1])))),
                ',"max":', if(arrayAll(v -> isNaN(v), vals[f + 1]), 'null',
                              toString(arrayMax(arrayFilter(v -> NOT isNaN(v), vals[f + 1])))),
                ',"mean":', if(arrayAll(v -> isNaN(v), vals[f + 1]), 'null',
                               toString(round(arrayAvg(arrayFilter(v -> NOT isNaN(v), vals[f + 1])), 9))),
                '}'), range(if(rows <= sr OR nr = 0, 0, 8))), ','),
            ',',
            arrayStringConcat(arrayMap(c -> concat(M_CATKEY[m][c + 1],
                '{"count":', toString(rows), ',"nulls":0,"distinct":',
                toString(length(arrayDistinct(cp[c + 1]))), ',"top":[',
                arrayStringConcat(arrayMap(x -> concat('[', M_CATQ[m][c + 1][x], ',',
                        toString(toUInt32(round(countEqual(cp[c + 1], x) * rows / sr))), ']'),
                    arraySlice(arrayReverseSort(x -> countEqual(cp[c + 1], x), arrayDistinct(cp[c + 1])), 1, 5)), ','),
                ']}'), range(if(rows <= sr OR nr = 0, 0, 2))), ','),
            '}')) AS input_stats,
        multiIf(
            M_KIND[m] <= 1, concat('{"label":[',
                arrayStringConcat(arrayMap(x -> if(M_KIND[m] = 0, M_LABELQ[m][x], toString(x - 1)), lab), ','),
                '],"score":[',
                arrayStringConcat(arrayMap(r -> toString(round(if(M_NCLASS[m] = 2, greatest(p[r + 1], 1 - p[r + 1]),
                    1 / M_NCLASS[m] + (1 - 1 / M_NCLASS[m]) * 0.95 * $u_score), 12)), range(nr)), ','),
                ']}'),
            M_KIND[m] = 2, concat('{"prediction":[', arrayStringConcat(arrayMap(x -> toString(x - 1), lab), ','), ']}'),
            concat('{"prediction":[', arrayStringConcat(arrayMap(v -> toString(v), regv), ','), ']}')) AS output_sample,
        if(prof, concat('[', arrayStringConcat(arrayMap(j -> concat(
                M_HOTHEAD[m][ver][j],
                toString(M_HOTCALLS[m][ver][j] * if(M_HOTROW[m][ver][j] = 1, rows, 1)),
                ',"self_ms":', toString(round(dur_ms * 0.9 * M_HOTSHARE[m][ver][j] * (0.9 + 0.2 * $u_hot), 4)),
                ',"cum_ms":', toString(round(if(M_HOTCUM[m][ver][j] = 0, dur_ms * 0.97,
                    dur_ms * 0.9 * M_HOTSHARE[m][ver][j] * (0.9 + 0.2 * $u_hot) * M_HOTCUM[m][ver][j]), 4)),
                '}'), arraySlice(arrayEnumerate(M_HOTHEAD[m][ver]), 1, if(prof AND nr > 0, 10, 0))), ','), ']'),
           '') AS hotspots,
        [M_NAME[m], M_OP[m], M_VERSION[m][ver], M_FRAMEWORK[m], concat(tid, sid), toString(rows), '10',
         input_sample, input_stats, if(prof, 'true', ''), hotspots,
         if(err, '', toString(rows)), if(err OR M_KIND[m] > 1, '', toString(M_NCLASS[m])), if(err, '', output_sample),
         if(err, M_ERRTYPE[m][e], '')] AS attr_values,
        mapFromArrays(arrayFilter((k, v) -> v != '', $attr_keys, attr_values), arrayFilter(v -> v != '', attr_values))
            AS attrs,
        map('telemetry.sdk.language', 'python', 'telemetry.sdk.name', 'opentelemetry',
            'telemetry.sdk.version', $otel_version, 'service.instance.id', M_INST[m][ver][h],
            'host.name', M_HOST[m][h], 'deployment.environment', 'production', 'service.name', M_SERVICE[m]) AS res,
        -- the two steps inside the call
        ts + 20000 + toInt64(dur * 0.02) AS ts1,
        toUInt64(dur * (0.25 + 0.2 * $u_step1)) AS dur1,
        ts1 + toInt64(dur1) + 10000 AS ts2,
        toUInt64(dur * (0.06 + 0.06 * $u_step2)) AS dur2
    FROM ($rows)
""")

ATTR_KEYS = (
    "ml.model.name", "ml.operation.name", "ml.model.version", "ml.model.framework", "ml.prediction.id",
    "ml.input.rows", "ml.input.columns", "ml.input.sample", "ml.input.stats", "ml.profile.sampled",
    "ml.profile.hotspots", "ml.output.rows", "ml.output.columns", "ml.output.sample", "error.type",
)  # fmt: skip

INSERT_COLUMNS = (
    "Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes, "
    "ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Timestamp`, "
    "`Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`"
)

_SPANS = Template("""
INSERT INTO $db.otel_traces ($columns)
WITH
$constants
SELECT
    fromUnixTimestamp64Nano(multiIf(k = 0, ts, k = 1, ts1, ts2)),
    tid,
    if(k = 0, sid, $child_sid),
    if(k = 0, '', sid),
    '',
    if(k = 0, M_SPAN[m], M_STEP[m][k]),
    'Internal',
    M_SERVICE[m],
    res,
    'modeltrace',
    $scope_version,
    if(k = 0, attrs, map('ml.step.name', M_STEP[m][k])),
    multiIf(k = 0, dur, k = 1, dur1, dur2),
    if(k = 0 AND err, 'Error', 'Unset'),
    if(k = 0 AND err, M_ERRSTATUS[m][e], ''),
    if(k = 0 AND err, [fromUnixTimestamp64Nano(ts + toInt64(dur))], CAST([], 'Array(DateTime64(9))')),
    if(k = 0 AND err, ['exception'], CAST([], 'Array(String)')),
    if(k = 0 AND err, [map('exception.type', M_ERRTYPE[m][e], 'exception.message', M_ERRMSG[m][e],
                           'exception.stacktrace', M_ERRSTACK[m][e], 'exception.escaped', 'True')],
       CAST([], 'Array(Map(String, String))')),
    CAST([], 'Array(String)'),
    CAST([], 'Array(String)'),
    CAST([], 'Array(String)'),
    CAST([], 'Array(Map(String, String))')
FROM ($call)
""")

# Ground truth: a feedback span (modeltrace.log_actual) some time after a labelled single-row call.
_FEEDBACK = Template("""
INSERT INTO $db.otel_traces ($columns)
WITH
$constants
SELECT
    fromUnixTimestamp64Nano(fts),
    $fb_tid,
    $fb_sid,
    '',
    '',
    concat('feedback ', M_NAME[m]),
    'Internal',
    M_SERVICE[m],
    map('telemetry.sdk.language', 'python', 'telemetry.sdk.name', 'opentelemetry',
        'telemetry.sdk.version', $otel_version, 'service.instance.id', M_INST[m][1][1],
        'host.name', concat(M_SERVICE[m], '-labels-0'), 'deployment.environment', 'production',
        'service.name', M_SERVICE[m]),
    'modeltrace',
    $scope_version,
    map('ml.prediction.id', concat(tid, sid), 'ml.actual', actual, 'ml.operation.name', 'feedback',
        'ml.model.name', M_NAME[m], 'ml.model.version', M_VERSION[m][ver]),
    toUInt64(0),
    'Unset',
    '',
    CAST([], 'Array(DateTime64(9))'),
    CAST([], 'Array(String)'),
    CAST([], 'Array(Map(String, String))'),
    [tid],
    [sid],
    [''],
    [CAST(map(), 'Map(String, String)')]
FROM (
    SELECT *,
        ts + 300000000000 + toInt64($u_delay * 10800e9) AS fts,
        -- the truth agrees with the prediction 87% of the time
        if($u_right < 0.87, lab[1], toUInt32(1 + lab[1] % M_NCLASS[m])) AS truth,
        multiIf(M_KIND[m] = 0, concat('[', M_LABELQ[m][truth], ']'),
                M_KIND[m] <= 2, concat('[', toString(truth - 1), ']'),
                concat('[', toString(round((regv[1] + M_OUTSD[m] * 0.35 * $z_truth) * 10000) / 10000), ']')) AS actual
    FROM ($rows)
)
WHERE fts <= $end_ns
""")


def _base_sql(chunk: Chunk) -> str:
    return _BASE.substitute(
        u_model=_u("1"),
        u_time=_u("2"),
        u_single=_u("3"),
        u_rows=_u("4"),
        u_err=_u("5"),
        u_prof=_u("6"),
        z_lat=_z("8", "9"),
        tid1=_id("11"),
        tid2=_id("12"),
        sid=_id("13"),
        day_first=chunk.day_first,
        day_count=max(chunk.day_count, 1),
        day_start=chunk.day_start_ns,
        day_ns=chunk.day_ns,
        amp=repr(chunk.amplitude),
        phase=repr(chunk.phase),
        single=SINGLE_ROW_SHARE,
        sample_rows=SAMPLE_ROWS,
        error_rate=ERROR_RATE,
        profile_rate=PROFILE_RATE,
        step_tenths=round(STEP_SHARE * 10),
        seed=SEED,
        first=chunk.first,
        count=chunk.count,
    )


def _rows_sql(source: str) -> str:
    return _ROWS.substitute(
        z_val=_z("1000 + f * 64 + r", "5000 + f * 64 + r"),
        u_cat=_u("9000 + c * 64 + r"),
        z_out=_z("16000 + r", "16500 + r"),
        u_class=_u("17000 + r"),
        source=source,
    )


def _versions() -> tuple[str, str]:
    from opentelemetry.sdk.version import __version__ as otel_version

    from modeltrace.version import __version__

    return _lit(otel_version), _lit(__version__)


def spans_sql(chunk: Chunk, constants: str) -> str:
    """The INSERT of one chunk's calls: a predict span each, with two steps under 30% of them."""
    otel_version, scope_version = _versions()
    # the heavy columns are made for the predict span only (nr: its sampled rows; 0 for a step)
    calls = f"SELECT *, k, if(k = 0, sr, 0) AS nr FROM ({_base_sql(chunk)}) ARRAY JOIN range(if(steps, 3, 1)) AS k"
    call = _CALL.substitute(
        values=Template(_VALUES).substitute(u_null=_u("12000 + f * 64 + r"), null_rate=NULL_RATE),
        u_score=_u("18000 + r"),
        u_hot=_u("20000 + j"),
        attr_keys=_lit(ATTR_KEYS),
        otel_version=otel_version,
        u_step1=_u("16"),
        u_step2=_u("17"),
        rows=_rows_sql(calls),
    )
    return _SPANS.substitute(
        db=DATABASE,
        columns=INSERT_COLUMNS,
        constants=constants,
        child_sid=_id("13 + k"),
        scope_version=scope_version,
        call=call,
    )


def feedback_sql(chunk: Chunk, constants: str, end_ns: int) -> str:
    """The INSERT of the ground truth for one chunk's labelled calls."""
    otel_version, scope_version = _versions()
    picked = (
        f"SELECT *, toUInt32(1) AS nr FROM ({_base_sql(chunk)}) "
        f"WHERE M_LABELLED[m] = 1 AND rows = 1 AND {_u('20')} < {FEEDBACK_RATE}"
    )
    return _FEEDBACK.substitute(
        db=DATABASE,
        columns=INSERT_COLUMNS,
        constants=constants,
        fb_tid=f"concat({_id('23')}, {_id('24')})",
        fb_sid=_id("25"),
        otel_version=otel_version,
        scope_version=scope_version,
        u_delay=_u("21"),
        u_right=_u("22"),
        z_truth=_z("26", "27"),
        end_ns=end_ns,
        rows=_rows_sql(picked),
    )


# -- the store ---------------------------------------------------------------------------------


def collector_config(path: str) -> Any:
    """The collector's configuration for a store at ``path`` (defaults otherwise, no environment)."""
    from modeltrace_collector.config import load

    path = os.path.abspath(path)
    return load(environ={}, overrides={"data_dir": os.path.dirname(path), "storage.dsn": f"chdb://{path}"})


@contextlib.contextmanager
def open_store(path: str) -> Iterator[Any]:
    """The collector's ``Store`` on ``path``, made and migrated as ``Collector`` does it."""
    from modeltrace_collector.service import make_store

    store = make_store(collector_config(path))
    try:
        store.ensure_schema()
        yield store
    finally:
        store.close()


def _command(store: Any, sql: str, settings: dict[str, Any] | None = None) -> None:
    store.client.command(sql, settings=settings or {})


def counts(store: Any) -> dict[str, int]:
    """Rows per table, as stored (``ml_latency_minutes``: one per model, version, operation and
    minute once its parts are merged)."""
    out = {}
    for table in TABLES:
        out[table] = int(store.query(f"SELECT count() FROM {DATABASE}.{table}", lane="write").result_rows[0][0])
    return out


def _insert_settings() -> dict[str, Any]:
    from modeltrace_collector.storage.store import INSERT_SETTINGS

    return {
        **INSERT_SETTINGS,  # as the writer inserts,
        "insert_deduplicate": 0,  # without keeping block hashes: every generated block is new
        # the views fill their tables side by side, on blocks small enough that generating the next
        # one overlaps with them: about twice as fast on two cores as one big block through one view
        # at a time
        "parallel_view_processing": 1,
        "max_insert_threads": os.cpu_count() or 2,
        "min_insert_block_size_rows": 131_072,
        "min_insert_block_size_bytes": 128 << 20,
        "max_query_size": 16 << 20,  # the catalogue's constants make a long query
    }


def _outdated_parts(store: Any, path: str) -> list[str]:
    """The directories of the parts merges have replaced (inside ``path`` only)."""
    root = os.path.realpath(path) + os.sep
    rows = store.query(
        f"SELECT path FROM system.parts WHERE database = '{DATABASE}' AND NOT active", lane="write"
    ).result_rows
    return [p for (p,) in rows if os.path.realpath(p).startswith(root)]


def merge_parts(store: Any) -> float:
    """Merge each table's parts per day (as a collector's background merges would have by now),
    so that the benchmark's queries read a settled store. Returns the seconds it took."""
    started = time.perf_counter()
    for table in TABLES:
        store.client.command(
            f"OPTIMIZE TABLE {DATABASE}.{table} FINAL", settings={"optimize_skip_merged_partitions": 1}
        )
    return round(time.perf_counter() - started, 1)


@contextlib.contextmanager
def sdk_session(resource: dict[str, str], clock: Callable[[], int] | None = None, ids: Any = None) -> Iterator[Any]:
    """modeltrace's spans go to memory inside the block (the exporter it yields), from a provider with
    this resource (as ``modeltrace.configure(resource_attributes=...)`` makes it), on ``clock``."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from modeltrace._internal import capture, state

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource), id_generator=ids, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous_provider, previous_clock = state._provider, state.now_ns
    state.set_provider(provider)
    if clock is not None:
        state.now_ns = clock
    capture.rng.seed(SEED)
    try:
        yield exporter
    finally:
        state.set_provider(previous_provider)
        state.now_ns = previous_clock
        provider.shutdown()


def stored_columns(spans: Sequence[Any]) -> list[list[Any]]:
    """Finished SDK spans as the collector stores them: OTLP-encoded, then flattened into the
    ``otel_traces`` columns (``schema.TRACE_COLUMNS``) as its writer inserts them."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from modeltrace_collector.pipeline.flatten import flatten
    from modeltrace_collector.storage.schema import TRACES

    return flatten([encode_spans(spans)]).columns[TRACES]


def _batch(model: BenchModel, rows: int, rng: np.random.Generator) -> dict[str, Any]:
    """Input columns for ``model`` (numbers as numpy arrays, categories as lists of strings)."""
    spec = DOMAINS[model.domain]
    batch: dict[str, Any] = {}
    for name, mean, sd, dec, log, lo, hi in spec["num"]:
        x = rng.normal(mean, sd, rows)
        batch[name] = np.round(np.clip(np.exp(x) if log else x, lo, hi), dec)
    for name, values in spec["cat"]:
        batch[name] = [str(v) for v in rng.choice(values, rows)]
    return batch


def _answer(model: BenchModel, rows: int, rng: np.random.Generator) -> np.ndarray:
    """What ``model`` returns for a batch of ``rows``: class probabilities, classes or numbers."""
    if model.output == "proba":
        return rng.dirichlet(np.ones(model.classes), rows)
    if model.output == "class":
        return rng.integers(0, 2, rows)
    mean, sd = DOMAINS[model.domain]["out"]
    return np.round(rng.normal(mean, sd, rows), 4)


def _resource(model: BenchModel, host: str) -> dict[str, str]:
    return {"host.name": host, "deployment.environment": "production", "service.name": model.service}


def insert_big_trace(store: Any, cat: list[BenchModel], end_ns: int) -> int:
    """One trace of ``BIG_TRACE_SPANS`` spans from the real SDK: a batch predict with steps nested
    six deep, encoded as OTLP and stored through the collector's flatten and insert (as the writer
    does). Returns the spans stored."""
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    import modeltrace
    from modeltrace_collector.storage.schema import TRACE_COLUMNS, TRACES

    model = next((m for m in cat if m.name == BIG_TRACE_MODEL), cat[0])
    rng = np.random.default_rng(SEED)

    class Ids(IdGenerator):
        def __init__(self) -> None:
            self._rng = random.Random(SEED)

        def generate_trace_id(self) -> int:
            return int(BIG_TRACE_ID, 16)

        def generate_span_id(self) -> int:
            return self._rng.getrandbits(64) or 1

    start_ns = end_ns - BIG_TRACE_AGO_S * 1_000_000_000
    version = model.versions[sum(1 for d in model.deploys_ns if d <= start_ns) - 1]
    clock = {"t": start_ns}

    def now() -> int:  # each reading moves 20-400 microseconds on: about 4 s for the whole trace
        clock["t"] += int(rng.integers(20_000, 400_000))
        return clock["t"]

    names = ("load_partition", "score_shard", "feature_fetch", "transform", "predict_chunk", "tree_eval")
    fanout = 5

    def node(k: int, depth: int) -> None:
        with modeltrace.step(names[depth - 1]):
            for child in range(fanout * k + 1, min(fanout * k + fanout + 1, BIG_TRACE_SPANS)):
                node(child, depth + 1)

    def predict(batch: dict[str, Any]) -> np.ndarray:
        for child in range(1, fanout + 1):
            node(child, 1)
        return _answer(model, len(next(iter(batch.values()))), rng)

    options: dict[str, Any] = {"labels": list(model.labels)} if model.labels else {}
    traced = modeltrace.trace_model(
        name=model.name, version=version, framework=model.framework, operation=model.operation, profile_rate=0.0,
        **options,
    )(predict)  # fmt: skip
    with sdk_session(_resource(model, model.hosts[0]), now, Ids()) as exporter:
        traced(_batch(model, 5000, rng))
    columns = stored_columns(exporter.get_finished_spans())
    store.insert(TRACES, columns, TRACE_COLUMNS, f"ui-store-big-trace-{end_ns}", lane="write")
    return len(columns[0])


# -- realism: generated rows against the SDK's ---------------------------------------------------


def _shape(value: Any) -> Any:
    """The structure of a JSON value without its numbers and words: what must agree."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        kinds = {json.dumps(_shape(v)) for v in value}
        if len(kinds) > 1:
            kinds.discard('"null"')  # a missing value among numbers or words
        return [json.loads(k) for k in sorted(kinds)]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "string"


def _signature(row: dict[str, Any]) -> dict[str, Any]:
    """What a stored span must look like to pass for one the SDK sent, value by value."""
    from modeltrace import attributes as ml

    attrs = row["SpanAttributes"]
    sig: dict[str, Any] = {
        "SpanAttributes keys (in order)": list(attrs),
        "ResourceAttributes keys": sorted(row["ResourceAttributes"]),
        "SpanKind": row["SpanKind"],
        "StatusCode": row["StatusCode"],
        "ScopeName": row["ScopeName"],
        "ids": [len(row["TraceId"]), len(row["SpanId"]), len(row["ParentSpanId"])],
        "Events": [[n, sorted(a)] for n, a in zip(row["Events.Name"], row["Events.Attributes"])],
        "Links": [[len(t), len(s), ts, a] for t, s, ts, a in zip(*(row[f"Links.{c}"] for c in
                                                                 ("TraceId", "SpanId", "TraceState", "Attributes")))],
    }  # fmt: skip
    for key, value in attrs.items():
        if key in ml.JSON_TEXT:
            parsed = json.loads(value)
            if key == ml.INPUT_STATS:  # its numbers are the batch's: only their kinds must agree
                sig[key] = {"numeric": _shape(next(v for v in parsed.values() if "mean" in v)),
                            "categorical": _shape(next(v for v in parsed.values() if "top" in v))}  # fmt: skip
            elif key == ml.PROFILE_HOTSPOTS:
                sig[key] = _shape(parsed[:1])
            else:
                sig[key] = _shape(parsed)
        elif key in ml.INT_VALUED:
            sig[key] = "int" if value.isdigit() else value
        elif key in ml.BOOL_VALUED:
            sig[key] = value
        elif key == ml.PREDICTION_ID:
            sig[key] = len(value)
    return sig


def sdk_rows(model: BenchModel) -> dict[str, dict[str, Any]]:
    """Spans of ``model`` made by the real ``@trace_model``, ``modeltrace.step`` and ``log_actual``
    and stored as the collector stores them, by kind of call."""
    import modeltrace
    from modeltrace_collector.storage.schema import TRACE_COLUMNS

    rng = np.random.default_rng(SEED)
    options: dict[str, Any] = {"version": model.versions[0], "framework": model.framework}
    options["operation"] = model.operation
    if model.labels:
        options["labels"] = list(model.labels)

    failing = [False]

    def call(batch: dict[str, Any]) -> np.ndarray:
        if failing[0]:
            raise KeyError("merchant_id")
        with modeltrace.step(model.steps[0]):
            pass
        return _answer(model, len(next(iter(batch.values()))), rng)

    plain = modeltrace.trace_model(name=model.name, profile_rate=0.0, **options)(call)
    profiled = modeltrace.trace_model(name=model.name, profile_rate=1.0, **options)(call)
    with sdk_session(_resource(model, model.hosts[0])) as exporter:
        plain(_batch(model, 1, rng))
        actual = model.labels[-1] if model.labels else 1 if model.output != "reg" else 12.5
        modeltrace.log_actual(modeltrace.current_prediction_id(), actual, model=model.name, version=model.versions[0])
        plain(_batch(model, 40, rng))
        profiled(_batch(model, 1, rng))
        failing[0] = True
        with contextlib.suppress(KeyError):
            plain(_batch(model, 40, rng))
    columns = stored_columns(exporter.get_finished_spans())
    rows = [dict(zip(TRACE_COLUMNS, values)) for values in zip(*columns)]
    return dict(zip(("step", "single", "feedback", "step", "batch", "step", "profiled", "error"), rows))


def compare_with_sdk(store: Any, names: Sequence[str] = LABELLED_MODELS) -> list[str]:
    """Where the stored spans of these models (by default a classifier and a regressor) differ from
    the real SDK's (attribute names and their order, JSON structure, kinds of values, resource,
    events, links) for each kind of call: an empty list when they agree."""
    cat = {m.name: m for m in catalogue(len(CATALOGUE), DEFAULT_DAYS, store_end_ns(store))}
    return [f"{name} {diff}" for name in names for diff in _compare(store, cat[name])]


def _compare(store: Any, info: BenchModel) -> list[str]:
    model_name = info.name
    real = sdk_rows(info)
    m = f"SpanAttributes['ml.model.name'] = '{model_name}' AND SpanAttributes['ml.operation.name'] != 'feedback'"
    where = {
        "single": f"{m} AND SpanAttributes['ml.input.rows'] = '1' AND StatusCode = 'Unset' "
        "AND NOT mapContains(SpanAttributes, 'ml.profile.sampled')",
        "batch": f"{m} AND toUInt32OrZero(SpanAttributes['ml.input.rows']) > {SAMPLE_ROWS} AND StatusCode = 'Unset' "
        "AND NOT mapContains(SpanAttributes, 'ml.profile.sampled')",
        "profiled": f"{m} AND SpanAttributes['ml.input.rows'] = '1' AND StatusCode = 'Unset' "
        "AND mapContains(SpanAttributes, 'ml.profile.sampled')",
        "error": f"{m} AND toUInt32OrZero(SpanAttributes['ml.input.rows']) > {SAMPLE_ROWS} AND StatusCode = 'Error' "
        "AND NOT mapContains(SpanAttributes, 'ml.profile.sampled')",
        "step": f"SpanName = '{info.steps[0]}' AND ServiceName = '{info.service}'",
        "feedback": "SpanAttributes['ml.operation.name'] = 'feedback' "
        f"AND SpanAttributes['ml.model.name'] = '{model_name}'",
    }
    from modeltrace_collector.storage.schema import TRACE_COLUMNS

    cols = ", ".join(f"`{c}`" for c in TRACE_COLUMNS)
    out = []
    for kind, condition in where.items():
        rows = store.query(f"SELECT {cols} FROM {DATABASE}.otel_traces WHERE {condition} LIMIT 1", lane="write")
        if not rows.result_rows:
            out.append(f"{kind}: no generated span to compare")
            continue
        mine, theirs = _signature(dict(zip(TRACE_COLUMNS, rows.result_rows[0]))), _signature(real[kind])
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                out.append(f"{kind}: {key}: generated {mine.get(key)!r}, SDK {theirs.get(key)!r}")
    return out


def store_end_ns(store: Any) -> int:
    rows = store.query(f"SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM {DATABASE}.otel_traces", lane="write")
    return int(rows.result_rows[0][0])


def schema_hash() -> str:
    """A hash of the migrations: a store built before a schema change is built again."""
    h = hashlib.sha256()
    for entry in sorted(resources.files("modeltrace_collector.storage.migrations").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            h.update(entry.name.encode())
            h.update(entry.read_bytes())
    return h.hexdigest()[:12]


def disk_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def meta_path(path: str) -> str:
    """The JSON file beside a store that says how and when it was built."""
    return os.path.abspath(path).rstrip("/") + ".json"


def build(
    path: str,
    spans: int = DEFAULT_SPANS,
    days: float = DEFAULT_DAYS,
    models: int = DEFAULT_MODELS,
    analysis: bool = True,
    end_ns: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build the store in ``path`` (which must not hold one yet) and describe it (also written to
    ``meta_path(path)``): at least ``spans`` spans of ``models`` models over the ``days`` days
    ending at ``end_ns`` (default: now)."""
    if os.path.exists(path) and os.listdir(path):
        raise FileExistsError(f"{path} is not empty: build a store into a new directory")
    started = time.perf_counter()
    built_at = time.time()
    end_ns = end_ns if end_ns is not None else time.time_ns()
    end_ns -= end_ns % 1_000_000_000
    cat = catalogue(models, days, end_ns)
    constants = _constants(cat)
    calls = math.ceil(spans / SPANS_PER_CALL)
    parts = chunks(calls, days, end_ns)
    settings = _insert_settings()
    report: dict[str, Any] = {
        "path": os.path.abspath(path),
        "dsn": f"chdb://{os.path.abspath(path)}",
        "database": DATABASE,
        "built_at": built_at,
        "built_at_utc": dt.datetime.fromtimestamp(built_at, dt.timezone.utc).isoformat(timespec="seconds"),
        "end_ns": end_ns,
        "start_ns": end_ns - int(days * DAY_NS),
        "parameters": {"spans": spans, "days": days, "models": models},
        "schema_hash": schema_hash(),
        "calls": calls,
    }
    with open_store(path) as store:
        log(f"schema ready in {time.perf_counter() - started:.1f}s; {calls:,} calls in {len(parts)} inserts")
        # parts are merged once, at the end, rather than again and again while inserts go on
        _command(store, "SYSTEM STOP MERGES")
        for n, chunk in enumerate(parts, 1):
            t = time.perf_counter()
            _command(store, spans_sql(chunk, constants), settings)
            _command(store, feedback_sql(chunk, constants, end_ns), settings)
            log(f"  insert {n}/{len(parts)}: {chunk.count:,} calls in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        report["big_trace_spans"] = insert_big_trace(store, cat, end_ns)
        log(f"big trace {BIG_TRACE_ID}: {report['big_trace_spans']:,} spans in {time.perf_counter() - t:.1f}s")
        report["generate_seconds"] = round(time.perf_counter() - started, 1)
        _command(store, "SYSTEM START MERGES")
        report["merge_seconds"] = merge_parts(store)
        log(f"parts merged in {report['merge_seconds']}s")
        if analysis:
            report["analysis"] = run_analysis(store, end_ns // 1_000_000, log=log)
            merge_parts(store)  # the few parts the analysis wrote
        report["counts"] = counts(store)
        report["sdk_differences"] = compare_with_sdk(store)
        log(f"generated spans against the SDK's: {report['sdk_differences'] or 'alike'}")
        outdated = _outdated_parts(store, path)
    # What the merges replaced: the store would delete these after its next start; the engine has
    # released the directory now, so they go at once and the store's size is its real one.
    for part in outdated:
        shutil.rmtree(part, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["bytes"] = disk_bytes(path)
    report["models"] = describe(cat)
    with open(meta_path(path), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    return report


def describe(cat: list[BenchModel]) -> dict[str, Any]:
    """What a benchmark may want to ask about by name."""
    return {
        "names": [m.name for m in cat],
        "latency_model": LATENCY_MODEL,
        "drift_model": DRIFT_MODEL,
        "labelled_models": list(LABELLED_MODELS),
        "big_trace_id": BIG_TRACE_ID,
        "big_trace_model": BIG_TRACE_MODEL,
        "versions": {m.name: list(m.versions) for m in cat},
        "deploys_ms": {m.name: [d // 1_000_000 for d in m.deploys_ns[1:]] for m in cat},
        "services": sorted({m.service for m in cat}),
    }


# -- analysis ----------------------------------------------------------------------------------


def run_analysis(
    store: Any,
    end_ms: int,
    offsets_s: Sequence[int] = ANALYSIS_OFFSETS_S,
    budget_s: float = ANALYSIS_BUDGET_S,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The collector's analysis (``Analyzer.run`` with the collector's default settings, as its
    scheduler calls it) at ``end_ms`` minus each offset, in order: fills ``ml_findings`` and
    ``ml_drift_scores``. Once ``budget_s`` is spent, only the last run still happens. Returns the
    seconds of each run and the open findings by kind."""
    from modeltrace_collector.analysis.runner import Analyzer, settings_from_config

    config = collector_config(store.target.path)
    analyzer = Analyzer(store.on("analysis"), *settings_from_config(config))
    runs = []
    started = time.perf_counter()
    for n, offset in enumerate(offsets_s):
        at = end_ms - offset * 1000
        if time.perf_counter() - started > budget_s and n < len(offsets_s) - 1:
            runs.append({"at_ms": at, "skipped": True})
            continue
        t = time.perf_counter()
        result = analyzer.run(at_ms=at)
        runs.append(
            {"at_ms": at, "seconds": round(time.perf_counter() - t, 1), "opened": len(result["opened"]),
             "resolved": len(result["resolved"])}
        )  # fmt: skip
        log(f"analysis at end-{offset // 60}min: {runs[-1]['seconds']}s, {len(result['opened'])} findings opened")
    rows = store.query(
        f"SELECT Kind, ModelName, ModelVersion, Subject FROM {DATABASE}.ml_findings FINAL WHERE ResolvedAt IS NULL "
        "ORDER BY Kind, ModelName, Subject",
        lane="analysis",
    ).result_rows
    findings: dict[str, list[str]] = {}
    for kind, model, version, subject in rows:
        findings.setdefault(kind, []).append(f"{model} {version} {subject}")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "runs": runs,
        "open_findings": findings,
        "latency_finding": any(r[0] == "latency" and r[1] == LATENCY_MODEL for r in rows),
        "drift_finding": any(r[0] == "drift" and r[1] == DRIFT_MODEL for r in rows),
    }


# -- the cache ---------------------------------------------------------------------------------


def cache_key(spans: int, days: float, models: int) -> str:
    return f"spans{spans}-days{days:g}-models{models}-schema{schema_hash()}"


def store_info(path: str) -> dict[str, Any]:
    """The build report of the store at ``path`` (``<path>.json``), with ``age_s``: the seconds since
    its traffic ends (the build started then)."""
    with open(meta_path(path), encoding="utf-8") as f:
        info: dict[str, Any] = json.load(f)
    info["age_s"] = round(time.time() - info["built_at"], 1)
    return info


def in_use(path: str) -> bool:
    """Whether a process (a collector, a build) has the store at ``path`` open: chDB holds a lock
    on its ``status`` file meanwhile."""
    try:
        fd = os.open(os.path.join(path, "status"), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def cached_store(
    spans: int = DEFAULT_SPANS,
    days: float = DEFAULT_DAYS,
    models: int = DEFAULT_MODELS,
    max_age_s: float = MAX_AGE_S,
    cache_dir: str = CACHE_DIR,
    log: Callable[[str], None] = print,
) -> str:
    """The path of a built store with these parameters (``chdb://`` + it is its DSN): the cached one
    when it was built for the current migrations less than ``max_age_s`` ago, else a new one, built
    in a child process (which releases chDB's lock when it ends). A store some process still has
    open is not replaced, whatever its age. ``store_info(path)`` tells its age."""
    key_dir = os.path.join(cache_dir, cache_key(spans, days, models))
    path = os.path.join(key_dir, "chdb")
    os.makedirs(key_dir, exist_ok=True)
    with open(os.path.join(key_dir, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others wait for it and use it
        try:
            age = store_info(path)["age_s"] if os.path.isdir(path) else None
        except (OSError, ValueError, KeyError):
            age = None
        if age is not None and age < max_age_s:
            return path
        if age is not None and in_use(path):
            log(f"{path} is {age / 3600:.1f} hours old but open in another process: not replaced")
            return path
        for name in os.listdir(key_dir):  # the old store, and what a failed build left
            if name.startswith(("chdb", "building-")):
                stale = os.path.join(key_dir, name)
                if os.path.isdir(stale):
                    shutil.rmtree(stale)
                else:
                    os.remove(stale)
        tmp = os.path.join(key_dir, f"building-{os.getpid()}")
        log(f"building the benchmark store in {path}")
        cmd = [sys.executable, os.path.abspath(__file__), "--path", tmp, "--spans", str(spans), "--days",
               str(days), "--models", str(models)]  # fmt: skip
        subprocess.run(cmd, check=True)
        # the store moves with its directory: ClickHouse keeps its paths relative to it
        with open(meta_path(tmp), encoding="utf-8") as f:
            info = json.load(f)
        info["path"], info["dsn"] = path, f"chdb://{path}"
        os.rename(tmp, path)
        with open(meta_path(path), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1)
        os.remove(meta_path(tmp))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--path", required=True, help="directory of the new store (chdb://PATH)")
    p.add_argument("--spans", type=int, default=DEFAULT_SPANS)
    p.add_argument("--days", type=float, default=DEFAULT_DAYS)
    p.add_argument("--models", type=int, default=DEFAULT_MODELS)
    p.add_argument("--no-analysis", action="store_true", help="skip the analysis runs (no findings)")
    p.add_argument("--force", action="store_true", help="replace a store already in --path")
    p.add_argument("--check", action="store_true", help="only compare the store in --path with the SDK's spans")
    args = p.parse_args(argv)
    if args.check:
        with open_store(args.path) as store:
            differences = compare_with_sdk(store)
        print("\n".join(differences) or "the generated spans look like the SDK's")
        return 1 if differences else 0
    if args.force and os.path.isdir(args.path):
        shutil.rmtree(args.path)
    report = build(args.path, args.spans, args.days, args.models, analysis=not args.no_analysis)
    print(json.dumps({k: v for k, v in report.items() if k != "models"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
