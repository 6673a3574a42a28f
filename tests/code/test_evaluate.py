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


def test_language_slices_with_bootstrap_intervals():
    labels = ["A", "B"]
    truth = ["A", "B"] * 50 + ["A", "B"] * 50
    # English all right, French right on A only
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9]] * 50 + [[0.8, 0.2], [0.7, 0.3]] * 50)
    language = np.array(["en"] * 100 + ["fr"] * 100)
    groups = {f"language_{code}": (f"language = {code}", language == code) for code in ("en", "fr")}
    metrics = compute_metrics(truth, probabilities, labels, np.full(200, 20), 10, groups=groups)
    english, french = metrics["slices"]["language_en"], metrics["slices"]["language_fr"]
    assert english["accuracy"] == 1.0 and english["accuracy_ci95"] == [1.0, 1.0]
    assert french["accuracy"] == 0.5
    low, high = french["accuracy_ci95"]
    assert 0.35 < low < 0.5 < high < 0.65
    assert french["macro_f1_ci95"][0] < french["macro_f1"] < french["macro_f1_ci95"][1]
    # right at 0.8 confidence (gap 0.2), wrong at 0.7 (gap 0.7), half each
    assert french["ece"] == pytest.approx(0.45)


def test_evaluating_the_natural_set_reports_each_language(trained, params, tmp_path):
    from callcenterai.config import PROJECT_ROOT

    layout, result = trained
    metrics = stage_evaluate(
        str(result.model_dir),
        PROJECT_ROOT / "data" / "eval" / "multilingual_tickets.csv",
        tmp_path / "natural.json",
        params,
    )
    assert metrics["n"] == 720
    for code in ("en", "fr", "ar"):
        language = metrics["slices"][f"language_{code}"]
        assert language["n"] == 240 and len(language["accuracy_ci95"]) == 2


def test_resampled_macro_f1_equals_scikit_learns_on_every_resample():
    from sklearn.metrics import f1_score

    from callcenterai.evaluate import _resampled_macro_f1

    rng = np.random.default_rng(3)
    labels = np.array(["Access", "Hardware", "Purchase", "Storage", "HR Support"])
    truth = labels[rng.integers(0, 5, 120)]
    predicted = np.where(rng.random(120) < 0.6, truth, labels[rng.integers(0, 3, 120)])
    predicted[:3] = "Miscellaneous"  # a label only predicted, never true
    samples = rng.integers(0, 120, size=(300, 120))
    expected = [f1_score(truth[r], predicted[r], average="macro", zero_division=0) for r in samples]
    np.testing.assert_allclose(_resampled_macro_f1(truth, predicted, samples), expected, atol=1e-12)
