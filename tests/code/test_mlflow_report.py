"""The MLflow report: registry, aliases, promotion decisions and each run's details."""

import json

from callcenterai.mlflow_report import build_report, write_report
from callcenterai.pipeline import stage_evaluate, stage_promote
from callcenterai.sample import LABELS


def test_report_of_a_trained_evaluated_and_promoted_model(trained, params, tmp_path):
    layout, result = trained
    metrics = stage_evaluate(
        str(layout.model_dir("tfidf")), layout.split("test"), layout.metrics("tfidf"), params
    )
    stage_promote(layout, params)
    (tmp_path / "reports" / "tfidf").mkdir(parents=True)
    (tmp_path / "reports" / "tfidf" / "metrics.json").write_text(json.dumps(metrics))

    report = build_report(root=tmp_path)

    assert "### callcenterai-tfidf" in report
    assert "| 1 | production, staging |" in report
    assert "| promoted | no production version yet |" in report
    assert "### callcenterai-transformer\n\nNot registered in this store." in report
    assert f"run `{result.run_id}`" in report
    assert "| tfidf.C | `0.3` |" in report
    assert f"| test | {metrics['accuracy']:.4f} | {metrics['macro_f1']:.4f} |" in report
    for label in LABELS:
        f1 = metrics["per_class"][label]["f1"]
        assert f"| {label} | " in report and f"{f1:.4f}" in report
    matrix = metrics["confusion_matrix"]
    first = matrix["labels"][0]
    assert f"| {first} | " + " | ".join(str(n) for n in matrix["matrix"][0]) + " |" in report
    assert "version 1 (run" in report and "matches the committed" in report
    assert "`reports/transformer/metrics.json`: not present." in report


def test_report_flags_dvc_metrics_of_a_version_missing_from_the_store(trained, tmp_path):
    folder = tmp_path / "reports" / "transformer"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(
        json.dumps({"macro_f1": 0.9, "model": {"name": "callcenterai-transformer", "version": "7"}})
    )
    report = build_report(root=tmp_path)
    assert "callcenterai-transformer v7: that version is NOT in this store" in report


def test_write_report_creates_the_file(trained, tmp_path):
    output = write_report(tmp_path / "out" / "mlflow.md", root=tmp_path)
    assert output.read_text().startswith("# MLflow report")
