"""Batch classification of a file of tickets, in one process or on Ray.

``callcenterai batch --input tickets.csv --output labels.parquet --model tfidf|transformer|
agent-policy`` runs each ticket through what the services run: the PII scrubber, the shared
normaliser (inside the models) and the model, or for ``agent-policy`` the agent's routing policy
(TF-IDF first, the transformer for non-English, unsure or complex tickets, the answer rule
when both answered). The output has one row per input ticket, in input order: the id, ``label``,
``confidence`` and ``model_used``.

On Ray (``--workers N``), the tickets become a Ray Dataset whose batches go to N actors, each
holding the models once (``map_batches`` with an actor pool); the order of the input is kept
(``preserve_order``) and checked against the ids before anything is written. Without
``--ray-address`` a local Ray instance is started; with one, the job runs on that cluster.
``--workers 0`` runs in this process, without Ray.

The input file is read by the driver (so it must fit in its memory: about 200 MB per million
tickets); the classification is what is distributed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from callcenterai.agent.routing import (
    TFIDF,
    TRANSFORMER,
    needs_transformer,
    pick_answer,
    plan_route,
)
from callcenterai.agent.ticket import Scrubbed
from callcenterai.config import RoutingSettings
from callcenterai.errors import BatchError, DataError
from callcenterai.models.base import top_labels
from callcenterai.models.store import is_mlflow_uri, load_classifier
from callcenterai.tracking import setup_tracking

MODES = (TFIDF, TRANSFORMER, "agent-policy")
OUTPUT_COLUMNS = ("label", "confidence", "model_used")
# What a worker reads from its environment: where the tracking store is, and the settings
# get_settings() reads on the way to the models (home, experiment, cache). The model URIs, the
# threads and the routing policy travel in the BatchJob. Nothing else: API keys, passwords,
# tokens and store URLs stay with the driver.
WORKER_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_DISABLE_TELEMETRY",
    "CALLCENTERAI_MLFLOW_TRACKING_URI",
    "CALLCENTERAI_HOME",
    "CALLCENTERAI_MLFLOW_EXPERIMENT",
    "CALLCENTERAI_CACHE_DIR",
    "CALLCENTERAI_LOG_LEVEL",
)


@dataclass(frozen=True)
class BatchJob:
    mode: str
    model_uris: dict[str, str]
    id_column: str = "id"
    text_column: str = "text"
    pii_person_names: bool = True
    inference_threads: int | None = None  # transformer threads per process (None: all cores)

    def kinds(self) -> tuple[str, ...]:
        return (TFIDF, TRANSFORMER) if self.mode == "agent-policy" else (self.mode,)


def read_tickets(path: Path, id_column: str, text_column: str) -> pd.DataFrame:
    """The id and text columns of a CSV or Parquet file; ids are added (row numbers) if absent."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text: re-save it as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} cannot be read as CSV or Parquet: {first}") from None
    if text_column not in frame.columns:
        raise DataError(
            f"{path} has no column {text_column!r} (it has {', '.join(map(str, frame.columns))});"
            " choose it with --text-column"
        )
    if id_column not in frame.columns:
        frame[id_column] = np.arange(len(frame))
    if frame[id_column].duplicated().any():
        raise DataError(f"{path}: column {id_column!r} has duplicate ids; ids must be unique")
    if frame.empty:
        raise DataError(f"{path} has no tickets")
    tickets = frame[[id_column, text_column]].copy()
    tickets[text_column] = tickets[text_column].fillna("").astype(str)
    return tickets.reset_index(drop=True)


def load_models(job: BatchJob) -> dict:
    if any(is_mlflow_uri(uri) for uri in job.model_uris.values()):
        setup_tracking()
    threads = {"threads": job.inference_threads} if job.inference_threads else {}
    return {
        kind: load_classifier(job.model_uris[kind], **(threads if kind == TRANSFORMER else {}))
        for kind in job.kinds()
    }


def _answers(model, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Labels, confidences and each ticket's probabilities by label."""
    if not texts:
        return np.array([], dtype=object), np.array([], dtype=float), []
    probabilities = model.predict_proba(texts)
    labels, confidences = top_labels(probabilities, model.labels)
    by_label = [dict(zip(model.labels, map(float, row))) for row in probabilities]
    return np.asarray(labels, dtype=object), confidences, by_label


def classify_frame(
    frame: pd.DataFrame, job: BatchJob, models: dict, policy: RoutingSettings
) -> pd.DataFrame:
    """Scrub and classify a batch; same rows, same order, plus label, confidence, model_used."""
    scrubbed = [Scrubbed(text, job.pii_person_names) for text in frame[job.text_column].tolist()]
    texts = [ticket.text for ticket in scrubbed]
    n = len(texts)
    labels = np.empty(n, dtype=object)
    confidences = np.zeros(n)
    used = np.empty(n, dtype=object)
    if job.mode in (TFIDF, TRANSFORMER):
        labels[:], confidences[:], _ = _answers(models[job.mode], texts)
        used[:] = job.mode
    else:
        plans = [plan_route(ticket.signals, policy) for ticket in scrubbed]
        first_tfidf = [i for i, plan in enumerate(plans) if plan.first == TFIDF]
        tfidf_labels, tfidf_conf, tfidf_probs = _answers(
            models[TFIDF], [texts[i] for i in first_tfidf]
        )
        tfidf_probabilities = dict(zip(first_tfidf, tfidf_probs))
        labels[first_tfidf], confidences[first_tfidf], used[first_tfidf] = (
            tfidf_labels,
            tfidf_conf,
            TFIDF,
        )
        consult = [i for i, plan in enumerate(plans) if plan.first == TRANSFORMER]
        consult += [
            i
            for i, conf in zip(first_tfidf, tfidf_conf)
            if needs_transformer(plans[i], float(conf), policy)
        ]
        tr_labels, tr_conf, tr_probs = _answers(models[TRANSFORMER], [texts[i] for i in consult])
        for i, label, conf, probs in zip(consult, tr_labels, tr_conf, tr_probs):
            answered_first = plans[i].first == TFIDF
            if (
                not answered_first
                or pick_answer(tfidf_probabilities[i], probs, policy) == TRANSFORMER
            ):
                labels[i], confidences[i], used[i] = label, conf, TRANSFORMER
    result = frame[[job.id_column]].copy()
    result["label"], result["confidence"], result["model_used"] = labels, confidences, used
    return result.reset_index(drop=True)


class ClassifierActor:
    """A Ray actor: loads the models once, then classifies the batches it is given."""

    def __init__(self, job: BatchJob, policy: RoutingSettings):
        self.job, self.policy = job, policy
        self.models = load_models(job)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return classify_frame(batch, self.job, self.models, self.policy)


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def run_local(tickets, job, policy, batch_size: int) -> Iterator[pd.DataFrame]:
    models = load_models(job)
    for chunk in _chunks(tickets, batch_size):
        yield classify_frame(chunk, job, models, policy)


def ray_runtime_env(environ: Mapping[str, str] | None = None) -> dict:
    """The runtime environment of the Ray workers: only :data:`WORKER_VARIABLES`.

    An allow-list, so that a secret added to the settings later is not shipped by default: a
    cluster shows every job's runtime environment on its dashboard and keeps it in its store. A
    tracking server that needs credentials gets them from the cluster's own environment.
    """
    environ = os.environ if environ is None else environ
    return {"env_vars": {name: environ[name] for name in WORKER_VARIABLES if name in environ}}


def run_ray(
    tickets, job, policy, batch_size: int, workers: int, address: str | None
) -> Iterator[pd.DataFrame]:
    import ray

    if not address and job.inference_threads is None:
        # Actors share this machine's cores: one ONNX Runtime thread pool each, not one per core.
        job = dataclasses.replace(job, inference_threads=max(1, (os.cpu_count() or 1) // workers))
    if not ray.is_initialized():
        options = {"runtime_env": ray_runtime_env(), "log_to_driver": False}
        if address:
            ray.init(address=address, **options)
        else:
            # One logical CPU per actor, plus one for Ray Data's own tasks.
            ray.init(num_cpus=workers + 1, include_dashboard=False, **options)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    # Blocks built in the driver (no shuffle task), a few batches each, in input order.
    dataset = ray.data.from_pandas(list(_chunks(tickets, batch_size * 4)))
    classified = dataset.map_batches(
        ClassifierActor,
        fn_constructor_args=(job, policy),
        batch_size=batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    try:
        yield from classified.iter_batches(batch_size=None, batch_format="pandas")
    except ray.exceptions.RayError as exc:  # a worker died: its cause, in one line
        raise BatchError(f"the Ray job failed: {_ray_cause(exc)}") from None


def _ray_cause(exc: Exception) -> str:
    """The last line of a Ray error that names the exception a worker raised (Ray's messages
    carry the worker's whole traceback)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
    return (named or lines or [type(exc).__name__])[-1]


def _plain_strings(table):
    """Ray's batches carry large_string columns; write the same schema whichever way they ran."""
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def classify_file(
    input_path: Path,
    output_path: Path,
    job: BatchJob,
    policy: RoutingSettings,
    workers: int = 2,
    batch_size: int = 512,
    ray_address: str | None = None,
) -> dict:
    """Classify ``input_path`` into ``output_path`` (Parquet); returns counts and timings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if job.mode not in MODES:
        raise DataError(f"--model must be one of {', '.join(MODES)}, not {job.mode!r}")
    tickets = read_tickets(input_path, job.id_column, job.text_column)
    started = time.perf_counter()
    if workers == 0:
        batches = run_local(tickets, job, policy, batch_size)
    else:
        # Loaded once here first: a missing, unsafe or damaged model is one line before any
        # worker starts, not a dead actor's traceback.
        load_models(job)
        batches = run_ray(tickets, job, policy, batch_size, workers, ray_address)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(output_path.name + ".partial")
    written, used = 0, {}
    ids = tickets[job.id_column].to_numpy()
    writer = None
    try:  # the output appears whole, by one rename, or not at all (an earlier one stays)
        try:
            for batch in batches:
                expected = ids[written : written + len(batch)]
                if not np.array_equal(batch[job.id_column].to_numpy(), expected):
                    raise DataError("tickets came back out of order; nothing was written")
                table = _plain_strings(pa.Table.from_pandas(batch, preserve_index=False))
                writer = writer or pq.ParquetWriter(partial, table.schema)
                writer.write_table(table)
                written += len(batch)
                for model, count in batch["model_used"].value_counts().items():
                    used[model] = used.get(model, 0) + int(count)
        finally:
            if writer is not None:
                writer.close()
        if written != len(tickets):
            raise DataError(f"{written} of {len(tickets)} tickets classified; nothing was written")
        partial.replace(output_path)
    except BaseException:  # Ctrl-C included
        partial.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - started
    return {
        "input": str(input_path),
        "output": str(output_path),
        "tickets": written,
        "model": job.mode,
        "model_used": used,
        "workers": workers,
        "seconds": round(seconds, 2),
        "tickets_per_second": round(written / seconds, 1),
    }
