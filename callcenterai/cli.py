"""The ``callcenterai`` command line: thin commands over the pipeline's functions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from callcenterai.config import PROJECT_ROOT, TFIDF_MODEL_NAME, configure_logging, load_params
from callcenterai.errors import CallCenterAIError, one_line

app = typer.Typer(
    help="CallCenterAI: ticket triage with TF-IDF and transformer models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
train_app = typer.Typer(help="Train a model.", no_args_is_help=True)
app.add_typer(train_app, name="train")
feedback_app = typer.Typer(help="Corrections from the ticket store.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")

FEEDBACK_CSV = "data/feedback/corrections.csv"
ParamsOption = Annotated[Path, typer.Option("--params", help="Pipeline parameters (YAML).")]
TextColumns = Annotated[
    Optional[list[str]],
    typer.Option("--text-column", help="Text column(s), joined in order. Repeatable."),
]
LabelColumn = Annotated[Optional[str], typer.Option("--label-column", help="Label column.")]


def _layout():
    from callcenterai.pipeline import Layout

    return Layout(Path.cwd())


def _params(path: Path, text_columns: list[str] | None = None, label_column: str | None = None):
    params = load_params(path)
    if text_columns:
        params.data.text_columns = text_columns
    if label_column:
        params.data.label_column = label_column
    return params


def _print(data: dict) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.callback()
def main_options(
    log_level: Annotated[
        Optional[str], typer.Option(help="Logging level (default: CALLCENTERAI_LOG_LEVEL or INFO).")
    ] = None,
) -> None:
    configure_logging(log_level)


@app.command()
def sample(
    output: Annotated[Path, typer.Option(help="Where to write the CSV.")] = Path(
        "data/sample/tickets.csv"
    ),
    n: Annotated[int, typer.Option(min=8, help="Number of tickets.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 13,
) -> None:
    """Write the built-in synthetic sample of tickets (English, some French and Arabic)."""
    from callcenterai.sample import write_sample

    typer.echo(f"wrote {n} synthetic tickets to {write_sample(output, n=n, seed=seed)}")


@app.command()
def corpus(
    output: Annotated[Path, typer.Option(help="Report to write (JSON).")] = Path(
        "reports/corpus_report.json"
    ),
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Check the natural-ticket corpus: labels, languages, lengths, duplicates, evaluation leaks."""
    from callcenterai.pipeline import stage_corpus

    report = stage_corpus(load_params(params), output)
    _print(
        {
            "rows": report.rows,
            "smallest_cell": min(report.cells.values()),
            "varieties": report.varieties,
            "channels": report.channels,
            "words": report.words,
            "max_similarity_inside": report.max_similarity_inside,
            "max_similarity_to_eval": report.max_similarity_to_eval,
            "problems": len(report.problems),
            "report": output,
        }
    )


@app.command("prepare")
def prepare_command(
    input: Annotated[
        Optional[Path], typer.Option(help="Raw CSV (default: params data.input).")
    ] = None,
    text_column: TextColumns = None,
    label_column: LabelColumn = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Validate and clean a ticket CSV, then write the train/val/test split and a data report."""
    from callcenterai.pipeline import stage_prepare

    settings = _params(params, text_column, label_column)
    report = stage_prepare(input or Path(settings.data.input), _layout(), settings)
    _print(report.__dict__)


OneStepInput = Annotated[
    Optional[Path], typer.Option(help="Train in one step from this raw CSV instead of the splits.")
]
OutputOption = Annotated[Optional[Path], typer.Option(help="Model folder to write.")]


def _train(kind: str, input, output, params) -> None:
    from callcenterai.pipeline import stage_train, train_from_csv

    if input:
        result = train_from_csv(
            kind,
            input,
            output or Path("models") / kind,
            params,
            params.data.text_columns,
            params.data.label_column,
        )
    else:
        result = stage_train(kind, _layout(), params, output)
    _print(
        {
            "model_dir": result.model_dir,
            "run_id": result.run_id,
            "registered": f"{result.registered_name} v{result.registered_version} (staging)",
            "train_seconds": round(result.train_seconds, 2),
            "val_macro_f1": round(result.val_metrics["macro_f1"], 4),
            "val_accuracy": round(result.val_metrics["accuracy"], 4),
        }
    )


@train_app.command("tfidf")
def train_tfidf_command(
    input: OneStepInput = None,
    output: OutputOption = None,
    text_column: TextColumns = None,
    label_column: LabelColumn = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Train TF-IDF + calibrated linear SVM, log it to MLflow and register it as staging."""
    _train("tfidf", input, output, _params(params, text_column, label_column))


@train_app.command("transformer")
def train_transformer_command(
    input: OneStepInput = None,
    output: OutputOption = None,
    text_column: TextColumns = None,
    label_column: LabelColumn = None,
    max_train_samples: Annotated[
        Optional[int], typer.Option(help="Train on a stratified subset (quick runs).")
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override transformer.epochs.")] = None,
    base_model: Annotated[
        Optional[str], typer.Option(help="Override transformer.base_model.")
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Fine-tune the multilingual transformer, export ONNX int8, log and register it (staging)."""
    settings = _params(params, text_column, label_column)
    overrides = {"max_train_samples": max_train_samples, "epochs": epochs, "base_model": base_model}
    for key, value in overrides.items():
        if value is not None:
            setattr(settings.transformer, key, value)
    _train("transformer", input, output, settings)


@app.command()
def evaluate(
    model: Annotated[str, typer.Option(help="Model folder or MLflow URI (models:/name@alias).")],
    input: Annotated[Path, typer.Option(help="Labelled CSV (prepared split or raw schema).")],
    output: Annotated[Path, typer.Option(help="Metrics JSON to write; figures go beside it.")],
    text_column: TextColumns = None,
    label_column: LabelColumn = None,
    log_to_mlflow: Annotated[
        bool, typer.Option(help="Add the results to the model's MLflow run.")
    ] = True,
    params: ParamsOption = Path("params.yaml"),
    empty_ok: Annotated[
        bool, typer.Option(help="A file without tickets gives n: 0 (held-out corrections).")
    ] = False,
) -> None:
    """Evaluate a model: accuracy, macro/weighted F1, per-class scores, calibration, slices."""
    from callcenterai.pipeline import stage_evaluate

    settings = _params(params, text_column, label_column)
    metrics = stage_evaluate(model, input, output, settings, log_to_mlflow, empty_ok)
    if metrics["n"] == 0:
        _print({"model": model, "n": 0, "output": output})
        return
    _print(
        {
            "model": metrics["model"],
            "n": metrics["n"],
            "accuracy": round(metrics["accuracy"], 4),
            "macro_f1": round(metrics["macro_f1"], 4),
            "weighted_f1": round(metrics["weighted_f1"], 4),
            "ece": round(metrics["calibration"]["ece"], 4),
            "per_class_f1": {k: round(v["f1"], 4) for k, v in metrics["per_class"].items()},
            "output": output,
        }
    )


@app.command("promote")
def promote_command(
    name: Annotated[str, typer.Option(help="Registered model name.")] = TFIDF_MODEL_NAME,
    input: Annotated[
        Optional[Path], typer.Option(help="Test CSV both versions are scored on.")
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Move the production alias to the staging version if its macro-F1 is not worse."""
    from callcenterai.pipeline import stage_promote

    decision = stage_promote(_layout(), load_params(params), input, name)
    _print(decision)


@app.command("rollback")
def rollback_command(
    kind: Annotated[str, typer.Argument(help="tfidf or transformer")],
) -> None:
    """Move production back to the previous production version; running services follow it."""
    from callcenterai.pipeline import rollback

    _print(rollback(kind))


@app.command()
def quickstart(
    workdir: Annotated[Path, typer.Option(help="Folder for the sample, splits and model.")] = Path(
        "build/quickstart"
    ),
    n: Annotated[int, typer.Option(min=100, help="Number of sample tickets.")] = 2000,
    params: ParamsOption = PROJECT_ROOT / "params.yaml",
) -> None:
    """Run the pipeline on the built-in synthetic sample: prepare, train, evaluate, promote."""
    from callcenterai.pipeline import quickstart as run_quickstart

    _print(run_quickstart(workdir, load_params(params), sample_size=n))


@app.command()
def bootstrap(
    input: Annotated[
        Optional[Path],
        typer.Option(
            help="Tickets CSV; default data/raw/tickets.csv under CALLCENTERAI_HOME when it "
            "exists, else the shipped Kaggle tickets (params data.input)."
        ),
    ] = None,
    workdir: Annotated[Path, typer.Option(help="Folder for splits and models.")] = Path(
        "build/bootstrap"
    ),
    n: Annotated[int, typer.Option(min=100, help="Sample tickets, with --sample.")] = 2000,
    sample: Annotated[
        bool, typer.Option("--sample", help="Use the built-in synthetic sample instead.")
    ] = False,
    only: Annotated[
        Optional[str], typer.Option(help="Only this model: tfidf or transformer.")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="The quick transformer (params.yaml `quick`).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Train even if registered; promoted only if not worse (challenger)."
        ),
    ] = False,
    params: ParamsOption = PROJECT_ROOT / "params.yaml",
) -> None:
    """Give the models a production version in the registry, training what is missing.

    Trains, evaluates, registers and promotes the TF-IDF model and the transformer on the real
    reference data (or --input, or the synthetic --sample). Does nothing when both are registered.
    """
    from callcenterai.config import MODEL_NAMES, get_settings, project_file
    from callcenterai.pipeline import bootstrap as run_bootstrap

    if only is not None and only not in MODEL_NAMES:
        raise typer.BadParameter("--only must be tfidf or transformer")
    pipeline_params = load_params(params)
    # CALLCENTERAI_HOME: the project folder, or /app in the trainer image (a CSV may be mounted).
    users = get_settings().home / "data" / "raw" / "tickets.csv"
    if sample:
        input = None
    elif input is None:
        input = users if users.exists() else project_file(pipeline_params.data.input)
    kinds = (only,) if only else tuple(MODEL_NAMES)
    _print(
        run_bootstrap(
            workdir,
            pipeline_params,
            input_path=input,
            sample_size=n,
            kinds=kinds,
            quick=quick,
            force=force,
        )
    )


@app.command()
def up(
    folder: Annotated[
        Path, typer.Option("--dir", help="Stack folder: MLflow store, models, logs.")
    ] = Path("build/stack"),
    input: Annotated[
        Optional[Path],
        typer.Option(help="Train on this CSV instead of the shipped Kaggle tickets."),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Train on the built-in synthetic sample instead.")
    ] = False,
    mlflow_port: int = 5000,
    agent_port: int = 8000,
    tfidf_port: int = 8001,
    transformer_port: int = 8002,
    prometheus_port: int = 9090,
    params: Annotated[
        Optional[Path],
        typer.Option(
            "--params",
            help="Pipeline parameters for training (default: the project's params.yaml).",
        ),
    ] = None,
) -> None:
    """Run the whole system locally (no Docker): MLflow, both models, the agent, Prometheus.

    First start: trains TF-IDF on the shipped real tickets (under a minute) and serves it, then
    trains the quick transformer in the background (about 10 min), which joins without a
    restart. Later starts reuse the registered models. Ctrl-C or `callcenterai down` stops it.
    """
    from callcenterai.stack import Ports, run

    ports = Ports(mlflow_port, agent_port, tfidf_port, transformer_port, prometheus_port)
    run(
        folder.resolve(),
        ports,
        input.resolve() if input else None,
        echo=typer.echo,
        sample=sample,
        params=params.resolve() if params else None,
    )


@app.command()
def down(
    folder: Annotated[Path, typer.Option("--dir", help="Stack folder given to `up`.")] = Path(
        "build/stack"
    ),
) -> None:
    """Stop a stack started by `callcenterai up` (from another shell)."""
    from callcenterai.stack import stop_running

    typer.echo(stop_running(folder.resolve()))


@app.command()
def report(
    output: Annotated[Path, typer.Option(help="Markdown file to write.")] = Path(
        "reports/mlflow.md"
    ),
) -> None:
    """Write a Markdown report of the registry and the runs behind its versions."""
    from callcenterai.mlflow_report import write_report

    typer.echo(f"report: {write_report(output)}")


@app.command()
def batch(
    input: Annotated[Path, typer.Option(help="Tickets: a CSV or Parquet file.")],
    output: Annotated[Path, typer.Option(help="Parquet file to write.")],
    model: Annotated[str, typer.Option(help="tfidf, transformer or agent-policy.")] = "tfidf",
    text_column: Annotated[str, typer.Option(help="Column with the ticket text.")] = "text",
    id_column: Annotated[
        str, typer.Option(help="Column with unique ids; row numbers are used if absent.")
    ] = "id",
    workers: Annotated[
        int, typer.Option(min=0, help="Ray actors holding the models (0: this process, no Ray).")
    ] = 2,
    batch_size: Annotated[int, typer.Option(min=1, help="Tickets per model call.")] = 512,
    ray_address: Annotated[
        Optional[str], typer.Option(help="An existing Ray cluster (default: a local one).")
    ] = None,
    tfidf_model: Annotated[Optional[str], typer.Option(help="TF-IDF model folder or URI.")] = None,
    transformer_model: Annotated[
        Optional[str], typer.Option(help="Transformer model folder or URI.")
    ] = None,
) -> None:
    """Classify a file of tickets (scrubbed, normalised, same models as the services) on Ray.

    Writes id, label, confidence and model_used per ticket, in input order. Models default to
    models:/callcenterai-<kind>@production with MLFLOW_TRACKING_URI, else models/<kind>.
    """
    from callcenterai.batch import BatchJob, classify_file
    from callcenterai.config import get_settings

    settings = get_settings().model_copy(update={"model_uri": None})
    overrides = {"tfidf": tfidf_model, "transformer": transformer_model}
    uris = {kind: overrides[kind] or settings.default_model_uri(kind) for kind in overrides}
    job = BatchJob(model, uris, id_column, text_column, settings.pii_person_names)
    summary = classify_file(
        input,
        output,
        job,
        settings.route,
        workers=workers,
        batch_size=batch_size,
        ray_address=ray_address,
    )
    _print(summary)


@feedback_app.command("export")
def feedback_export_command(
    output: Annotated[
        Optional[Path],
        typer.Option(help="CSV to write (default: feedback.corrections of params.yaml)."),
    ] = None,
    store_url: Annotated[
        Optional[str],
        typer.Option(help="Ticket store URL (env CALLCENTERAI_STORE_URL; default the stack's)."),
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Write the corrected tickets as a dataset that training merges (cumulative: corrections
    deleted from the store by retention stay in the file)."""
    from callcenterai.config import get_settings
    from callcenterai.tickets.export import export_corrections

    target = output or Path(_params(params).feedback.corrections or FEEDBACK_CSV)
    report = export_corrections(store_url or get_settings().ticket_store_url, target)
    _print(report.as_dict())


@app.command()
def drift(
    model: Annotated[str, typer.Option(help="tfidf or transformer.")] = "tfidf",
    hours: Annotated[float, typer.Option(help="The window: the last this many hours.")] = 168,
    output: Annotated[Path, typer.Option(help="HTML report; the JSON goes beside it.")] = Path(
        "reports/drift/drift.html"
    ),
    reference: Annotated[
        Optional[Path],
        typer.Option(
            help="Reference profile (drift_reference.json of a model folder); default "
            "the production version's, from MLflow."
        ),
    ] = None,
    store_url: Annotated[
        Optional[str], typer.Option(help="Ticket store URL (env CALLCENTERAI_STORE_URL).")
    ] = None,
    alias: Annotated[str, typer.Option(help="Registry alias whose reference is used.")] = (
        "production"
    ),
) -> None:
    """Compare the tickets of a time window with a model's reference profile; write a report."""
    from datetime import timedelta

    from callcenterai.config import MODEL_NAMES, get_settings
    from callcenterai.drift import (
        ALERT_THRESHOLD,
        Profile,
        compare,
        live_profile,
        load_reference,
        write_report,
    )
    from callcenterai.errors import DataError
    from callcenterai.tickets.export import store_exists
    from callcenterai.tickets.store import TicketStore, now, redacted

    if model not in MODEL_NAMES:
        raise typer.BadParameter("model must be tfidf or transformer")
    settings = get_settings()
    if reference is not None:
        if not reference.is_file():
            raise DataError(f"no reference profile at {reference}")
        profile = Profile.from_dict(json.loads(reference.read_text()))
    else:
        from mlflow import MlflowClient

        from callcenterai.registry import alias_version
        from callcenterai.tracking import setup_tracking

        setup_tracking(settings)
        version = alias_version(MODEL_NAMES[model], alias, MlflowClient())
        if version is None:
            raise DataError(f"{MODEL_NAMES[model]} has no {alias} version: pass --reference")
        profile = load_reference(MODEL_NAMES[model], version.version, settings.tracking_uri)
    url = store_url or settings.ticket_store_url
    if not store_exists(url):
        raise DataError(f"no ticket store at {redacted(url)}: the agent creates it (make run)")
    store = TicketStore(url)
    store.migrate()
    until = now()
    live = live_profile(store, model, until - timedelta(hours=hours), until)
    store.close()
    if live.tickets == 0:
        raise DataError(f"no ticket answered by {model} in the last {hours:g} hours")
    distances = compare(profile, live)
    write_report(profile, live, distances, ALERT_THRESHOLD, output)
    summary = {
        "model": profile.model,
        "reference_tickets": profile.tickets,
        "window": live.window,
        "tickets": live.tickets,
        "distances": distances,
        "drifting": sorted(f for f, value in distances.items() if value > ALERT_THRESHOLD),
        "report": str(output),
    }
    output.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    _print(summary)


@app.command()
def serve(
    kind: Annotated[str, typer.Argument(help="tfidf, transformer or agent")],
    model: Annotated[
        Optional[str],
        typer.Option(help="Model folder or models:/ URI (env CALLCENTERAI_MODEL_URI)."),
    ] = None,
    host: Annotated[Optional[str], typer.Option(help="Address (env CALLCENTERAI_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (env CALLCENTERAI_PORT).")] = None,
    tfidf_url: Annotated[
        Optional[str], typer.Option(help="Agent: TF-IDF service (env CALLCENTERAI_TFIDF_URL).")
    ] = None,
    transformer_url: Annotated[
        Optional[str],
        typer.Option(help="Agent: transformer service (env CALLCENTERAI_TRANSFORMER_URL)."),
    ] = None,
) -> None:
    """Serve a model (/predict, /predict/batch) or the agent (/classify, chat page at /).

    Every service also has /health, /ready, /metrics and /docs.
    """
    import uvicorn

    from callcenterai.config import get_settings

    # A serving process reads models as skops or ONNX only (models.kinds); MLflow's own loaders
    # may not deserialise anything in it either, unless the environment says otherwise.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    if kind not in ("tfidf", "transformer", "agent"):
        raise typer.BadParameter("kind must be tfidf, transformer or agent")
    overrides = {
        "model_uri": model,
        "host": host,
        "port": port,
        "tfidf_url": tfidf_url,
        "transformer_url": transformer_url,
    }
    settings = get_settings().model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    if kind == "agent":
        from callcenterai.services.agent_service import create_agent_app

        app = create_agent_app(settings)
        typer.echo(
            f"serving the agent on {settings.host}:{settings.port} (TF-IDF {settings.tfidf_url}, "
            f"transformer {settings.transformer_url}); chat page at /"
        )
    else:
        from callcenterai.services.model_service import (
            create_model_app,
            default_loader,
            follows_alias,
        )

        uri = settings.default_model_uri(kind)
        if follows_alias(uri, settings):  # waits for a version if none exists yet
            app = create_model_app(kind, settings, model_uri=uri)
            typer.echo(
                f"serving {kind} from {uri} on {settings.host}:{settings.port}, following the "
                f"alias (every {settings.model_poll_s:g} s)"
            )
        else:
            loaded = default_loader(kind, uri, settings)()  # fail fast, with one line
            app = create_model_app(kind, settings, loader=lambda: loaded, model_uri=uri)
            typer.echo(
                f"serving {kind} model {loaded.name} v{loaded.version} on "
                f"{settings.host}:{settings.port}"
            )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # client addresses stay out of logs; /metrics counts requests
    )


def _is_user_error(error: Exception) -> bool:
    """Errors a user fixes by changing input or configuration, not code."""
    if isinstance(error, (CallCenterAIError, OSError)):
        return True
    module = type(error).__module__
    return module.startswith(("mlflow.", "pydantic", "pydantic_core"))


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1, not a traceback."""
    try:
        app()
    except Exception as error:
        if not _is_user_error(error):
            raise
        message = one_line(error)
        if type(error).__module__.startswith("pydantic"):  # first line only names the model
            message = " ".join(line.strip() for line in str(error).splitlines()[:3])
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
