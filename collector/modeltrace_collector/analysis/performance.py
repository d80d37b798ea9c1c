"""Model performance per version and time bucket.

With ground truth (``ml_actuals`` joined on the prediction id): accuracy and macro precision,
recall and F1 for classification; MAE and RMSE for regression. The task is classification
when the labels are strings or a few whole numbers.

Without it: a confidence-based estimate of accuracy (NannyML's CBPE idea). Each call's score
(the model's probability for its predicted class) is mapped to the accuracy observed at that
score where labels exist (decile calibration), else taken as is; the expected accuracy is
their mean. Its 95% interval adds the Poisson-binomial variance of the outcomes, sum p(1 - p),
and the sampling error of each calibrated accuracy (n^2 p(1 - p) / labelled calls at that score).
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..storage.store import StoreView
from .sqlfiles import sql


class Performance:
    def __init__(self, store: StoreView) -> None:
        self.store = store

    def analyze(
        self,
        model: str,
        window: float = 86400.0,
        bucket: float = 3600.0,
        end_ms: int | None = None,
        prediction_field: str = "",
        score_field: str = "score",
    ) -> dict[str, Any]:
        db = self.store.database
        end_ms = end_ms if end_ms is not None else int(time.time() * 1000)
        params: dict[str, Any] = {
            "model": model,
            "start": end_ms - int(window * 1000),
            "end": end_ms,
            "bucket_ms": int(bucket * 1000),
            "score_field": score_field,
        }
        outputs = self._output_fields(params)
        field = prediction_field or _prediction_field(outputs, score_field)
        params["pred_field"] = field
        pairs = sql("performance_pairs", db)
        labelled = bool(self.store.query(sql("actuals_any", db), params).result_rows[0][0])
        confusion = (
            self.store.query(sql("performance_classification", db, pairs=pairs), params).result_rows if labelled else []
        )
        task = _task(confusion)
        out: dict[str, Any] = {
            "model": model,
            "prediction_field": field,
            "task": task,
            "window_ms": [params["start"], end_ms],
        }
        if task == "classification":
            out["measured"] = _classification(confusion)
        elif task == "regression":
            rows = self.store.query(sql("performance_regression", db, pairs=pairs), params).named_results()
            out["measured"] = [
                {"version": r["version"], "bucket_ms": r["bucket_ms"], "n": r["n"], "mae": r["mae"], "rmse": r["rmse"]}
                for r in rows
            ]
        else:
            out["measured"] = []
        out["estimated"] = self._estimate(params, pairs if labelled else None)
        if not out["measured"]:
            out["note"] = self._missing(model, params, outputs, field)
        return out

    def _missing(self, model: str, params: dict[str, Any], outputs: list[str], field: str) -> str:
        """What is missing for measured performance, in words."""
        if not outputs:
            return (
                f"the calls of {model!r} in the window carry no output sample (ml.output.sample): performance "
                "compares predictions with ground truth, so the model's outputs must be recorded"
            )
        if field not in outputs:
            return f"{model!r} has no output field {field!r}; its outputs are {', '.join(sorted(outputs))}"
        actuals = self.store.query(sql("actuals_count", self.store.database), params).result_rows[0][0]
        if not actuals:
            return (
                f"no ground truth for {model!r} in the window: send it with modeltrace.log_actual(prediction_id, ...)"
            )
        return (
            f"{actuals} ground-truth values for {model!r} in the window, but none matches a call with a whole output "
            "sample: check the prediction ids passed to log_actual"
        )

    def prediction_field(self, params: dict[str, Any], score_field: str = "score") -> str:
        """The output field holding the model's prediction in the window of ``params``."""
        return _prediction_field(self._output_fields(params), score_field)

    def _output_fields(self, params: dict[str, Any]) -> list[str]:
        return [r[0] for r in self.store.query(sql("output_fields", self.store.database), params).result_rows]

    def _estimate(self, params: dict[str, Any], pairs: str | None) -> list[dict[str, Any]]:
        """Accuracy from the calls' confidence; ``pairs`` (None without ground truth) calibrates it."""
        db = self.store.database
        calibration = (
            {
                int(r[0]): (int(r[1]), float(r[2]))
                for r in self.store.query(sql("performance_calibration", db, pairs=pairs), params).result_rows
            }
            if pairs is not None
            else {}
        )
        groups: dict[tuple[str, int], dict[str, float]] = {}
        for version, bucket_ms, bin_, n, score_sum, variance_sum in self.store.query(
            sql("performance_scores", db), params
        ).result_rows:
            g = groups.setdefault(
                (version, int(bucket_ms)), {"n": 0, "expected": 0.0, "variance": 0.0, "calibrated_n": 0}
            )
            cal = calibration.get(int(bin_))
            if cal is not None and cal[0] >= 30:
                p = cal[1]  # observed accuracy at this score
                g["expected"] += n * p
                # the calls' own outcomes, plus the error of p itself (measured on cal[0] calls)
                g["variance"] += n * p * (1 - p) + n * n * p * (1 - p) / cal[0]
                g["calibrated_n"] += n
            else:
                g["expected"] += score_sum
                g["variance"] += variance_sum
            g["n"] += n
        out = []
        for (version, bucket_ms), g in sorted(groups.items()):
            n = g["n"]
            acc = g["expected"] / n
            half = 1.96 * math.sqrt(g["variance"]) / n
            out.append(
                {
                    "version": version,
                    "bucket_ms": bucket_ms,
                    "n": int(n),
                    "estimated_accuracy": acc,
                    "ci95": [max(0.0, acc - half), min(1.0, acc + half)],
                    "calibrated_share": g["calibrated_n"] / n,
                }
            )
        return out


MAX_CLASSES = 20  # whole-number labels with more distinct values than this are a regression's


def task_of(numeric: bool, whole: bool, classes: int) -> str:
    """Classification when the labels are strings, or whole numbers of few distinct values."""
    return "classification" if not numeric or (whole and classes <= MAX_CLASSES) else "regression"


def _task(confusion: list[tuple[Any, ...]]) -> str:
    if not confusion:
        return "unknown"
    labels = {r[3] for r in confusion} | {r[2] for r in confusion}
    numeric = []
    for label in labels:
        try:
            numeric.append(float(label))
        except ValueError:
            return "classification"
    return task_of(True, all(v.is_integer() for v in numeric), len({r[3] for r in confusion}))


def _classification(confusion: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], dict[tuple[str, str], int]] = {}
    for version, bucket_ms, predicted, actual, n in confusion:
        groups.setdefault((version, int(bucket_ms)), {})[(predicted, actual)] = int(n)
    out = []
    for (version, bucket_ms), cells in sorted(groups.items()):
        total = sum(cells.values())
        correct = sum(n for (p, a), n in cells.items() if p == a)
        classes = sorted({a for _, a in cells} | {p for p, _ in cells})
        precision, recall, f1 = [], [], []
        for c in classes:
            tp = cells.get((c, c), 0)
            fp = sum(n for (p, a), n in cells.items() if p == c and a != c)
            fn = sum(n for (p, a), n in cells.items() if a == c and p != c)
            pr = tp / (tp + fp) if tp + fp else 0.0
            rc = tp / (tp + fn) if tp + fn else 0.0
            precision.append(pr)
            recall.append(rc)
            f1.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
        out.append(
            {
                "version": version,
                "bucket_ms": bucket_ms,
                "n": total,
                "accuracy": correct / total,
                "precision": sum(precision) / len(classes),
                "recall": sum(recall) / len(classes),
                "f1": sum(f1) / len(classes),
            }
        )
    return out


def _prediction_field(names: list[str], score_field: str) -> str:
    """The output field holding the prediction: a usual name, else the first that is not the score."""
    for candidate in ("prediction", "label", "class", "predicted", "y"):
        if candidate in names:
            return candidate
    others = [n for n in names if n != score_field]
    return sorted(others)[0] if others else "prediction"
