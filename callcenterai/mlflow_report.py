"""A Markdown report of the MLflow tracking store: registered models, versions, aliases and
promotion decisions, and for each run behind a version its parameters, metrics, per-class F1 and
confusion matrix.

``callcenterai report`` writes it (``reports/mlflow.md`` by default). Everything comes from the
store: version tags written by ``promote``, run parameters and metrics, and the evaluation
artifact ``evaluation/test/metrics.json``. The DVC metrics files (``reports/<kind>/metrics.json``)
name the version they evaluated; the report says whether the store holds that version.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from callcenterai.config import MODEL_NAMES, PROJECT_ROOT
from callcenterai.tracking import setup_tracking

SUMMARY_METRICS = ("accuracy", "macro_f1", "weighted_f1", "ece", "log_loss")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _when(millis: int | None) -> str:
    if not millis:
        return ""
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _evaluation(client: MlflowClient, run_id: str, split: str = "test") -> dict | None:
    """The run's evaluation artifact (``evaluation/<split>/metrics.json``), if it was logged."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(run_id, f"evaluation/{split}/metrics.json", folder)
        except (MlflowException, OSError):
            return None
        return json.loads(Path(path).read_text())


def _live(tags: dict) -> str:
    """The shadow period's figures recorded at promotion: agreement and corrections."""
    shadowed = tags.get("promotion.live_shadowed")
    if shadowed in (None, "0"):
        return "-"
    text = f"{shadowed} tickets, agreement {tags.get('promotion.live_agreement')}"
    corrected = tags.get("promotion.live_corrected", "0")
    if corrected != "0":
        challenger = tags.get("promotion.live_challenger_accuracy_on_corrections")
        production = tags.get("promotion.live_production_accuracy_on_corrections")
        text += f"; on {corrected} corrected: {challenger} vs production {production}"
    return text


def _versions_section(client: MlflowClient, name: str) -> tuple[list[str], list]:
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return [f"### {name}", "", "Not registered in this store.", ""], []
    aliases = {}
    for alias, version in model.aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    rows = []
    for version in versions:
        tags = version.tags
        rows.append(
            [
                version.version,
                ", ".join(sorted(aliases.get(str(version.version), []))) or "-",
                _when(version.creation_timestamp),
                f"`{version.run_id[:8]}`",
                _fmt(float(tags["test_macro_f1"])) if "test_macro_f1" in tags else "",
                _live(tags),
                tags.get("promotion.decision", "not evaluated for promotion"),
                tags.get("promotion.reason", ""),
            ]
        )
    lines = [f"### {name}", ""]
    lines += _table(
        [
            "version",
            "aliases",
            "created",
            "run",
            "test macro-F1",
            "live (shadow)",
            "decision",
            "reason",
        ],
        rows,
    )
    return lines + [""], versions


def _run_section(client: MlflowClient, name: str, version) -> list[str]:
    run = client.get_run(version.run_id)
    metrics, params = run.data.metrics, run.data.params
    lines = [
        f"### {name} v{version.version}: run `{run.info.run_id}`",
        "",
        f"Run name `{run.info.run_name}`, kind `{run.data.tags.get('model_kind', '?')}`, "
        f"started {_when(run.info.start_time)}, status {run.info.status}.",
        "",
        "Parameters:",
        "",
    ]
    lines += _table(["parameter", "value"], [[k, f"`{v}`"] for k, v in sorted(params.items())])
    lines += ["", "Metrics:", ""]
    rows = []
    for split in ("val", "test"):
        row = [split] + [_fmt(metrics.get(f"{split}_{key}")) for key in SUMMARY_METRICS]
        if any(row[1:]):
            rows.append(row)
    lines += _table(["split", *SUMMARY_METRICS], rows)
    others = {key: value for key, value in metrics.items() if not key.startswith(("val_", "test_"))}
    if others:
        listed = ", ".join(f"`{key}` {_fmt(value)}" for key, value in sorted(others.items()))
        lines += ["", f"Other run metrics: {listed}."]
    evaluation = _evaluation(client, run.info.run_id)
    if evaluation is None:
        return lines + ["", "No test evaluation logged for this run.", ""]
    data = evaluation["data"]
    lines += [
        "",
        f"Per-class F1 on the test file (`{data['path']}`, {evaluation['n']:,} tickets, "
        f"sha256 `{data['sha256'][:12]}…`):",
        "",
    ]
    per_class = evaluation["per_class"]
    lines += _table(
        ["class", "precision", "recall", "F1", "support"],
        [
            [label, _fmt(s["precision"]), _fmt(s["recall"]), _fmt(s["f1"]), s["support"]]
            for label, s in per_class.items()
        ],
    )
    matrix = evaluation["confusion_matrix"]
    short = [label[:12] for label in matrix["labels"]]
    lines += ["", "Confusion matrix on the test file (rows: true class, columns: predicted):", ""]
    lines += _table(
        ["true \\ predicted", *short],
        [[label, *row] for label, row in zip(matrix["labels"], matrix["matrix"])],
    )
    return lines + [""]


def _dvc_section(client: MlflowClient, root: Path) -> list[str]:
    lines = ["## DVC metrics and the store", ""]
    for kind in ("tfidf", "transformer"):
        path = root / "reports" / kind / "metrics.json"
        if not path.exists():
            lines.append(f"- `{path.relative_to(root)}`: not present.")
            continue
        committed = json.loads(path.read_text())
        model = committed.get("model", {})
        try:
            version = client.get_model_version(model.get("name", ""), str(model.get("version")))
            run_f1 = client.get_run(version.run_id).data.metrics.get("test_macro_f1")
            same = run_f1 is not None and abs(run_f1 - committed["macro_f1"]) < 1e-9
            status = (
                f"version {version.version} (run `{version.run_id[:8]}`) is in this store; its "
                f"test macro-F1 {_fmt(run_f1)} "
                + ("matches" if same else "DOES NOT match")
                + f" the committed {_fmt(committed['macro_f1'])}"
            )
        except MlflowException:
            status = "that version is NOT in this store"
        lines.append(
            f"- `{path.relative_to(root)}` evaluated {model.get('name')} v{model.get('version')}: "
            f"{status}."
        )
    return lines + [""]


def build_report(client: MlflowClient | None = None, root: Path = PROJECT_ROOT) -> str:
    client = client or MlflowClient()
    lines = [
        "# MLflow report",
        "",
        f"Generated by `callcenterai report` from `{client.tracking_uri}` "
        f"on {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "## Registered models",
        "",
    ]
    behind: list[tuple[str, object]] = []
    for name in MODEL_NAMES.values():
        section, versions = _versions_section(client, name)
        lines += section
        behind += [(name, version) for version in versions]
    lines += _dvc_section(client, root)
    lines += ["## Runs behind the registered versions", ""]
    for name, version in behind:
        lines += _run_section(client, name, version)
    return "\n".join(lines)


def write_report(output: Path, root: Path = PROJECT_ROOT) -> Path:
    setup_tracking()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(build_report(root=root))
    return output
