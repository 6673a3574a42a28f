"""The pipeline's stages as plain functions.

DVC runs them one by one through the command line; the quick start runs them in a row.

Paths default to the layout of ``dvc.yaml``; the quick start points them at a work folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from callcenterai.config import (
    MODEL_NAMES,
    PRODUCTION_ALIAS,
    TFIDF_MODEL_NAME,
    Params,
    get_settings,
)
from callcenterai.corpus import CORPUS_COLUMNS, CorpusReport, check_corpus, read_table
from callcenterai.data import (
    FEEDBACK_TEST,
    LABEL,
    LANGUAGE,
    TEXT,
    DataReport,
    load_tickets,
    prepare,
    read_split,
    split_tickets,
)
from callcenterai.errors import DataError, RegistryError
from callcenterai.evaluate import evaluate_frame, load_eval_data, training_scrubber, write_outputs
from callcenterai.models.store import check_model_output, is_mlflow_uri, load_classifier
from callcenterai.promotion import promote
from callcenterai.registry import alias_version, roll_back
from callcenterai.sample import LABELS, write_sample
from callcenterai.tickets.export import read_corrections, store_exists
from callcenterai.tickets.store import TicketStore
from callcenterai.tracking import log_evaluation, metric_key, setup_tracking
from callcenterai.train import TrainResult, train_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    """Where each stage reads and writes, relative to one root (the project or a work folder)."""

    root: Path

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def data_report(self) -> Path:
        return self.root / "reports" / "data_report.json"

    def model_dir(self, kind: str) -> Path:
        return self.root / "models" / kind

    def metrics(self, kind: str) -> Path:
        return self.root / "reports" / kind / "metrics.json"

    def promotion(self, kind: str) -> Path:
        return self.root / "reports" / kind / "promotion.json"

    def split(self, name: str) -> Path:
        return self.processed / f"{name}.csv"


def stage_prepare(input_path: Path, layout: Layout, params: Params) -> DataReport:
    """Clean and split ``input_path``; the natural corpus (``natural.corpus``) joins train/val."""
    natural = None
    corpus = params.natural.path("corpus")
    if corpus is not None:
        if not corpus.is_file():
            raise DataError(
                f"natural corpus not found at {corpus}: set natural.corpus to null in params.yaml "
                "to train on the main data alone"
            )
        natural = read_table(corpus, CORPUS_COLUMNS)[[TEXT, LABEL, LANGUAGE]]
    corrections = None
    if params.feedback.corrections is not None:
        # Written by `callcenterai feedback export` (the DVC stage before this one); a missing
        # file is no corrections yet.
        corrections = read_corrections(layout.root / params.feedback.corrections)
    return prepare(
        input_path,
        layout.processed,
        layout.data_report,
        params.data,
        natural=natural,
        natural_val_size=params.natural.val_size,
        corrections=corrections,
        feedback_holdout=params.feedback.holdout,
        scrub=training_scrubber(params.data),
    )


def stage_corpus(params: Params, report_path: Path) -> CorpusReport:
    """Check the natural corpus against the label set and the evaluation set; write the report."""
    corpus = params.natural.path("corpus")
    if corpus is None:
        raise DataError("natural.corpus is not set in params.yaml: there is no corpus to check")
    report = check_corpus(corpus, params.natural.path("eval"), LABELS)
    report.to_json(report_path)
    if report.problems:
        shown = "; ".join(report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise DataError(f"the natural corpus fails {len(report.problems)} check(s): {shown}{more}")
    return report


def _read_report(layout: Layout) -> dict | None:
    if layout.data_report.exists():
        return json.loads(layout.data_report.read_text())
    return None


def stage_train(
    kind: str, layout: Layout, params: Params, output: Path | None = None
) -> TrainResult:
    """Train a model of ``kind`` on the prepared train split, validated on the val split."""
    return train_model(
        kind,
        read_split(layout.split("train")),
        read_split(layout.split("val")),
        output or layout.model_dir(kind),
        params,
        data_report=_read_report(layout),
    )


def train_from_csv(
    kind: str,
    input_path: Path,
    output: Path,
    params: Params,
    text_columns: list[str],
    label_column: str,
) -> TrainResult:
    """One-step training from a raw CSV: clean, split in memory, train on train, validate on val."""
    check_model_output(output)  # before reading and scrubbing the tickets, not after
    frame, report = load_tickets(
        input_path,
        text_columns,
        label_column,
        min_per_label=params.data.min_per_label,
        scrub=training_scrubber(params.data),
    )
    splits = split_tickets(frame, params.data)
    report.split_sizes = {name: len(split) for name, split in splits.items()}
    return train_model(kind, splits["train"], splits["val"], output, params, data_report=report)


def _has_no_rows(path: Path) -> bool:
    """A CSV with a header and no ticket (e.g. no held-out corrections yet)."""
    with Path(path).open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip()) <= 1


def stage_evaluate(
    model_uri: str,
    data_path: Path,
    output: Path,
    params: Params,
    log_to_mlflow: bool = True,
    empty_ok: bool = False,
) -> dict:
    """Evaluate a model on a labelled CSV, write the outputs, and add them to the model's run.

    The tracking store is selected before the model is loaded, so a ``models:/`` URI is looked
    up in the project's store (``MLFLOW_TRACKING_URI`` or the local one), never MLflow's default.
    With ``empty_ok``, a file without tickets gives metrics with ``n: 0`` instead of an error.
    """
    if empty_ok and Path(data_path).is_file() and _has_no_rows(data_path):
        metrics = {"model": model_uri, "n": 0, "data": {"path": str(data_path), "rows_read": 0}}
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(metrics, indent=2) + "\n")
        return metrics
    if log_to_mlflow or is_mlflow_uri(model_uri):
        setup_tracking()
    classifier = load_classifier(model_uri)
    frame, data_info = load_eval_data(data_path, params.data)
    metrics, predicted = evaluate_frame(classifier, frame, params.data.short_ticket_words)
    metrics["data"] = data_info
    files = write_outputs(metrics, frame["label"].tolist(), predicted, output)
    if log_to_mlflow:
        _log_to_model_run(classifier, metrics, files)
    return metrics


def _log_to_model_run(classifier, metrics: dict, files: dict) -> None:
    if not classifier.run_id:
        logger.warning("model %s has no MLflow run: evaluation not logged", classifier.name)
        return
    version = None
    if classifier.version != "local":
        version = (classifier.name, classifier.version)
    # Metrics are named after the evaluated file: test.csv gives test_macro_f1, so evaluating
    # another file (e.g. the multilingual set) never overwrites the test score.
    prefix = f"{metric_key(Path(metrics['data']['path']).stem)}_"
    log_evaluation(classifier.run_id, metrics, list(files.values()), prefix, version)


def stage_promote(
    layout: Layout,
    params: Params,
    test_path: Path | None = None,
    name: str = TFIDF_MODEL_NAME,
    scored: dict[str, float] | None = None,
) -> dict:
    setup_tracking()
    url = get_settings().ticket_store_url
    store = TicketStore(url) if store_exists(url) else None  # the agent's, for live figures
    if store is not None:
        store.migrate()
    decision = promote(
        name,
        test_path or layout.split("test"),
        params.promotion.min_improvement,
        data_params=params.data,
        scored=scored,
        corrections_path=layout.processed / FEEDBACK_TEST,
        min_corrections=params.promotion.min_corrections,
        max_test_drop=params.promotion.max_test_drop,
        store=store,
    ).as_dict()
    if store is not None:
        store.close()
    output = layout.promotion(name.removeprefix("callcenterai-"))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(decision, indent=2) + "\n")
    return decision


def quickstart(workdir: Path, params: Params, sample_size: int = 2000) -> dict:
    """Run the whole pipeline on the built-in synthetic sample, inside ``workdir``."""
    layout = Layout(workdir)
    sample = write_sample(workdir / "data" / "raw" / "sample_tickets.csv", n=sample_size)
    params = sample_params(params)
    report = stage_prepare(sample, layout, params)
    result = stage_train("tfidf", layout, params)
    metrics = stage_evaluate(
        str(layout.model_dir("tfidf")), layout.split("test"), layout.metrics("tfidf"), params
    )
    decision = stage_promote(layout, params)
    return {
        "sample": str(sample),
        "rows_kept": report.rows_kept,
        "run_id": result.run_id,
        "model_dir": str(result.model_dir),
        "registered_version": result.registered_version,
        "train_seconds": round(result.train_seconds, 2),
        "test_macro_f1": round(metrics["macro_f1"], 4),
        "test_accuracy": round(metrics["accuracy"], 4),
        "metrics_file": str(layout.metrics("tfidf")),
        "promotion": decision["reason"],
        "production_alias": decision["promoted"],
    }


# The transformer on the built-in sample: a short run that proves the system end to end (74 s of
# training on 2 cores; 2 epochs at a higher learning rate: 1 epoch at 5e-5 left it near uniform,
# test macro-F1 0.78 against 0.996). Real data uses params.yaml as it is.
SAMPLE_TRANSFORMER = {"epochs": 2, "max_length": 64, "learning_rate": 2e-4}


def sample_params(params: Params) -> Params:
    """The parameters of a run on the built-in sample: a short transformer, and the sample alone
    (a synthetic demonstration of the system, trained in minutes)."""
    return params.model_copy(
        update={
            "transformer": params.transformer.model_copy(update=SAMPLE_TRANSFORMER),
            "natural": params.natural.model_copy(update={"corpus": None}),
        }
    )


def rollback(kind: str) -> dict:
    """Move ``kind``'s production alias back to the previous production version (the services
    following the alias switch within their polling interval)."""
    if kind not in MODEL_NAMES:
        raise RegistryError(
            f"unknown model kind {kind!r}: expected one of {', '.join(MODEL_NAMES)}"
        )
    setup_tracking()
    name = MODEL_NAMES[kind]
    previous, current = roll_back(name, PRODUCTION_ALIAS)
    return {
        "model": name,
        "alias": PRODUCTION_ALIAS,
        "from_version": previous,
        "to_version": current,
    }


def production_versions() -> dict[str, str | None]:
    """The version holding the production alias of each model, or None."""
    setup_tracking()
    client = MlflowClient()
    versions = {}
    for kind, name in MODEL_NAMES.items():
        version = alias_version(name, PRODUCTION_ALIAS, client)
        versions[kind] = str(version.version) if version is not None else None
    return versions


def bootstrap(
    workdir: Path,
    params: Params,
    input_path: Path | None = None,
    sample_size: int = 2000,
    kinds: tuple[str, ...] = ("tfidf", "transformer"),
    quick: bool = False,
    force: bool = False,
) -> dict:
    """Make sure ``kinds`` have a production version: train, evaluate, register and promote the
    missing ones, on ``input_path`` or else the built-in sample. Does nothing when all exist.
    ``quick``: the transformer of params.yaml's ``quick`` profile (bounded in time). ``force``:
    train ``kinds`` even when registered; the champion/challenger promotion decides.
    """
    existing = production_versions()
    missing = [kind for kind in kinds if force or existing[kind] is None]
    if not missing:
        return {"trained": [], "production": existing, "reason": "already registered"}
    layout = Layout(workdir)
    if input_path is None:
        input_path = write_sample(workdir / "data" / "raw" / "sample_tickets.csv", n=sample_size)
        params = sample_params(params)
    elif quick:
        params = params.quick_profile()
    report = stage_prepare(input_path, layout, params)
    summary: dict = {"input": str(input_path), "rows_kept": report.rows_kept, "trained": missing}
    for kind in missing:
        result = stage_train(kind, layout, params)
        logger.info("progress: %s trained; evaluating on the test split and promoting", kind)
        metrics = stage_evaluate(
            str(layout.model_dir(kind)), layout.split("test"), layout.metrics(kind), params
        )
        # The candidate was just scored on this test file: promotion does not score it again.
        scored = {str(result.registered_version): metrics["macro_f1"]}
        decision = stage_promote(layout, params, name=MODEL_NAMES[kind], scored=scored)
        summary[kind] = {
            "registered_version": result.registered_version,
            "train_seconds": round(result.train_seconds, 1),
            "test_macro_f1": round(metrics["macro_f1"], 4),
            "promotion": decision["reason"],
        }
    summary["production"] = production_versions()
    return summary
