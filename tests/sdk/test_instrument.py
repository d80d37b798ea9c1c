"""instrument(): scikit-learn estimators and torch modules, on that object only."""

import pickle

import cloudpickle
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import modeltrace
from modeltrace.testing import capture_spans


@pytest.fixture(scope="module")
def iris():
    data = load_iris(as_frame=True)
    return data.data, data.target


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_sklearn_classifier_methods_are_traced_with_fitted_feature_names(iris):
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    other = LogisticRegression(max_iter=500).fit(X, y)
    modeltrace.instrument(model, name="iris", version="1.0", profile_rate=0)
    rows = X.iloc[:2]
    with capture_spans() as spans:
        labels = model.predict(rows)
        proba = model.predict_proba(rows.to_numpy())
        model.decision_function(rows)
        other.predict(rows)  # another instance of the class is untouched
    assert labels.tolist() == other.predict(rows).tolist()
    d = spans.dicts()
    assert [s["name"] for s in d] == ["predict iris", "predict_proba iris", "decision_function iris"]
    predict, predict_proba, _ = (s["attributes"] for s in d)
    assert predict["ml.model.framework"] == "sklearn"
    assert predict["ml.model.version"] == "1.0"
    assert list(predict["ml.input.sample"]) == list(X.columns)
    assert predict["ml.output.sample"] == {"prediction": labels.tolist()}
    # A numpy input still gets the names the estimator was fitted with.
    assert list(predict_proba["ml.input.sample"]) == list(X.columns)
    assert predict_proba["ml.output.sample"] == {
        "label": proba.argmax(axis=1).tolist(),
        "score": pytest.approx(proba.max(axis=1).tolist()),
    }
    assert predict_proba["ml.output.columns"] == 3


def test_string_class_labels_are_reported(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = modeltrace.instrument(LogisticRegression(max_iter=500).fit(X, names), name="iris", profile_rate=0)
    with capture_spans() as spans:
        model.predict_proba(X.iloc[:1])
    assert spans.dicts()[0]["attributes"]["ml.output.sample"]["label"] == ["setosa"]


def test_transformer_and_hidden_methods(iris):
    X, _ = iris
    scaler = modeltrace.instrument(StandardScaler().fit(X), name="scaler", profile_rate=0)
    svc = modeltrace.instrument(SVC().fit(X, iris[1]), name="svc", profile_rate=0)  # no predict_proba
    with capture_spans() as spans:
        scaler.transform(X.iloc[:3])
        svc.predict(X.iloc[:3])
    assert [s["name"] for s in spans.dicts()] == ["transform scaler", "predict svc"]
    assert spans.dicts()[0]["attributes"]["ml.output.columns"] == 4
    assert not hasattr(svc, "predict_proba")


def test_instrumented_estimator_pickles_and_stays_traced(iris):
    X, y = iris
    model = modeltrace.instrument(LogisticRegression(max_iter=500).fit(X, y), name="iris", profile_rate=0)
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        clone = loads(dumps(model))
        with capture_spans() as spans:
            assert clone.predict(X.iloc[:2]).tolist() == model.predict(X.iloc[:2]).tolist()
        assert [s["name"] for s in spans.dicts()] == ["predict iris", "predict iris"]


def test_uninstrument_restores_the_class_methods(iris):
    X, y = iris
    model = modeltrace.instrument(LogisticRegression(max_iter=500).fit(X, y), name="iris")
    modeltrace.uninstrument(model)
    with capture_spans() as spans:
        model.predict(X.iloc[:1])
    assert spans.dicts() == []


def test_object_without_model_methods_is_rejected():
    with pytest.raises(TypeError, match="none of the methods"):
        modeltrace.instrument(object(), name="x")


def test_torch_module_forward_is_traced():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.softmax(self.linear(x), dim=1)

    torch.manual_seed(0)
    net = modeltrace.instrument(Net(), name="net", version="7", output="scores", profile_rate=0)
    plain = Net()
    x = torch.ones(2, 4)
    with capture_spans() as spans:
        with torch.no_grad():
            out = net(x)
            plain(x)
    (span,) = spans.dicts()
    a = span["attributes"]
    assert span["name"] == "predict net"
    assert a["ml.model.framework"] == "pytorch"
    assert a["ml.input.sample"] == {"f0": [1, 1], "f1": [1, 1], "f2": [1, 1], "f3": [1, 1]}
    assert a["ml.output.sample"]["label"] == out.argmax(dim=1).tolist()
    assert a["ml.output.sample"]["score"] == pytest.approx(out.max(dim=1).values.tolist())
    # parameters and submodules are untouched
    assert [n for n, _ in net.named_parameters()] == ["linear.weight", "linear.bias"]
