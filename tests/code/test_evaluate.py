import json

import numpy as np
import pytest

from callcenterai.errors import DataError
from callcenterai.evaluate import compute_metrics, expected_calibration_error
from callcenterai.pipeline import stage_evaluate


def test_ece_is_zero_when_confidence_matches_accuracy():
    probabilities = np.array([[0.75, 0.25]] * 4)
    correct = np.array([True, True, True, False])
    assert expected_calibration_error(probabilities, correct) == pytest.approx(0.0)


def test_ece_measures_overconfidence():
    probabilities = np.array([[0.9, 0.1]] * 10)
    correct = np.array([True] * 5 + [False] * 5)
    assert expected_calibration_error(probabilities, correct) == pytest.approx(0.4)


def test_metrics_per_class_and_slices():
    labels = ["A", "B"]
    truth = ["A", "A", "B", "B"]
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    words = np.array([3, 30, 3, 30])
    metrics = compute_metrics(truth, probabilities, labels, words, short_words=10)
    assert metrics["accuracy"] == 0.75
    assert metrics["per_class"]["A"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert metrics["slices"]["short"]["accuracy"] == 1.0
    assert metrics["slices"]["long"]["accuracy"] == 0.5
    assert metrics["confusion_matrix"]["matrix"] == [[1, 1], [0, 2]]


def test_labels_unknown_to_the_model_are_an_error():
    with pytest.raises(DataError, match="labels the model does not know: C"):
        compute_metrics(["C"], np.array([[1.0, 0.0]]), ["A", "B"], np.array([1]), 10)


def test_evaluate_writes_outputs_and_logs_to_the_run(trained, params, tmp_path):
    import mlflow

    layout, result = trained
    output = tmp_path / "eval" / "metrics.json"
    metrics = stage_evaluate(str(result.model_dir), layout.split("test"), output, params)
    written = json.loads(output.read_text())
    for key in ("accuracy", "macro_f1", "weighted_f1", "per_class", "calibration", "slices"):
        assert key in written
    assert written["macro_f1"] == metrics["macro_f1"] > 0.5
    assert (tmp_path / "eval" / "metrics_confusion_matrix.png").stat().st_size > 1000
    predictions = (tmp_path / "eval" / "metrics_predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == metrics["n"] + 1
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["test_macro_f1"] == pytest.approx(metrics["macro_f1"])
    version = mlflow.MlflowClient().get_model_version(
        "callcenterai-tfidf", result.registered_version
    )
    assert float(version.tags["test_macro_f1"]) == pytest.approx(metrics["macro_f1"])


def test_evaluate_raw_schema_csv(trained, params, sample_csv, tmp_path):
    _, result = trained
    metrics = stage_evaluate(
        str(result.model_dir), sample_csv, tmp_path / "m.json", params, log_to_mlflow=False
    )
    assert metrics["n"] == 1200  # raw CSV: duplicates are evaluated, not dropped
