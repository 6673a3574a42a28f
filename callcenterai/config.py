"""One place for settings: environment variables for runtime, ``params.yaml`` for the pipeline.

Runtime settings (where MLflow lives, log level, later the services' ports and limits) come from
environment variables with the ``CALLCENTERAI_`` prefix, plus MLflow's own ``MLFLOW_TRACKING_URI``.
Pipeline hyperparameters live in ``params.yaml`` so that DVC can track them.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TFIDF_MODEL_NAME = "callcenterai-tfidf"
TRANSFORMER_MODEL_NAME = "callcenterai-transformer"
MODEL_NAMES = {"tfidf": TFIDF_MODEL_NAME, "transformer": TRANSFORMER_MODEL_NAME}
STAGING_ALIAS = "staging"
PRODUCTION_ALIAS = "production"


class RoutingSettings(BaseModel):
    """The agent's routing policy (read by :mod:`callcenterai.agent.routing`).

    Defaults chosen by ``python -m benchmarks.routing`` on the validation split with natural
    tickets, for the models trained on Kaggle + the natural corpus (criterion: mean of the Kaggle
    and natural validation macro-F1; budget: at most 30 % of English tickets consult the
    transformer); see reports/benchmark.md, "Routing policy". A test keeps them equal to the
    committed benchmark's choice.
    """

    model_config = ConfigDict(frozen=True)

    tfidf_languages: tuple[str, ...] = Field(
        ("en", "fr", "ar"), description="Languages TF-IDF may answer."
    )
    min_language_confidence: float = Field(
        0.5, ge=0, le=1, description="Below this, a non-English detection is not trusted."
    )
    tfidf_min_confidence: float = Field(
        0.7, ge=0, le=1, description="Below this TF-IDF confidence the transformer is consulted."
    )
    complexity_threshold: float = Field(
        1.01, ge=0, description="Complexity at which the transformer is consulted (>1: never)."
    )
    answer: Literal["most_confident", "transformer", "weighted_vote"] = Field(
        "most_confident", description="Whose answer wins when both models answered."
    )
    vote_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="weighted_vote: weight of the transformer's probabilities (TF-IDF: 1 - it).",
    )


class Settings(BaseSettings):
    """Runtime settings, read from the environment (prefix ``CALLCENTERAI_``) or a ``.env`` file."""

    model_config = SettingsConfigDict(
        env_prefix="CALLCENTERAI_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE -> route.tfidf_min_confidence
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    home: Path = Field(
        default=PROJECT_ROOT,
        description="Folder under which the local MLflow store and build outputs are kept.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CALLCENTERAI_MLFLOW_TRACKING_URI"),
        description="MLflow tracking server or store; a local sqlite store under `home` if unset.",
    )
    mlflow_experiment: str = "callcenterai"
    log_level: str = "INFO"
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "callcenterai",
        description="Rebuilt base models and other downloads-free caches (outside git).",
    )

    # Services (each process reads the same variables; compose and the CLI set them per service).
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    model_uri: str | None = Field(
        default=None,
        description="Model to serve; default models:/callcenterai-<kind>@production when a "
        "tracking URI is set, else the local folder models/<kind>.",
    )
    max_text_chars: int = Field(20_000, ge=1, description="Longer tickets get HTTP 413.")
    max_batch_size: int = Field(64, ge=1, description="Most texts in one /predict/batch call.")
    inference_threads: int | None = Field(
        None, ge=1, description="Threads for one model call (ONNX Runtime intra-op)."
    )
    model_poll_s: float = Field(
        10.0,
        ge=0,
        description="A model service given a registry alias asks every this many seconds which "
        "version holds it, and swaps in a new one (0: load once, never follow).",
    )
    model_workers: int = Field(
        1, ge=1, description="Model calls run at once; 1 lets each use all inference threads."
    )
    micro_batch_size: int = Field(
        8, ge=1, description="Concurrent /predict requests joined into one model call (1: off)."
    )
    explain_top_k: int = Field(5, ge=1, description="Terms in a TF-IDF explanation.")
    micro_batch_wait_ms: float = Field(
        0.0, ge=0, description="How long the first request of a micro-batch waits for others."
    )
    micro_batch_queue_size: int = Field(
        256,
        ge=1,
        description="/predict requests waiting for a micro-batch; past this they get 503 with "
        "Retry-After.",
    )

    # The agent: where the model services are, how long to wait, when to stop trying.
    tfidf_url: str = Field("http://127.0.0.1:8001", description="TF-IDF service base URL.")
    transformer_url: str = Field(
        "http://127.0.0.1:8002", description="Transformer service base URL."
    )
    tfidf_timeout_s: float = Field(2.0, gt=0, description="Timeout of one TF-IDF call.")
    transformer_timeout_s: float = Field(5.0, gt=0, description="Timeout of one transformer call.")
    breaker_failures: int = Field(
        3, ge=1, description="Consecutive failures that open a service's circuit breaker."
    )
    breaker_reset_s: float = Field(
        15.0, gt=0, description="How long an open breaker skips the service before a new try."
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, /classify and /tickets require it in the X-API-Key header, and "
        "/health shows details only with it. Empty or blank counts as unset.",
    )
    require_api_key: bool = Field(
        False,
        description="Refuse to start the agent without a (non-empty) API key: fail closed when "
        "a deployment's Secret is missing or empty (the Helm chart sets it).",
    )
    api_docs: bool | None = Field(
        None,
        description="Serve /docs and /openapi.json on the agent; default: only when no API key "
        "is set (the schema names every route and limit).",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description='Origins allowed by CORS, e.g. ["https://crm.example"].'
    )
    pii_person_names: bool = Field(
        True, description="Also mask person names (en/fr) when the spaCy models are installed."
    )
    store_enabled: bool = Field(
        True, description="Record every classified ticket (scrubbed text only) in the store."
    )
    store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the ticket store, e.g. "
        "postgresql+psycopg://user:password@host/db; default a SQLite file, "
        "build/stack/tickets.db under `home`.",
    )
    store_retention_days: float = Field(
        90, ge=0, description="Tickets older than this are deleted (0: kept forever)."
    )
    store_queue_size: int = Field(
        10_000, ge=1, description="Tickets waiting to be written; past this they are not stored."
    )
    shadow_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of live tickets also sent to the staging model (the "
        "shadow challenger), off the response path; 0: never.",
    )
    shadow_max_in_flight: int = Field(
        4, ge=1, description="Shadow calls at once; past this a ticket is not shadowed."
    )
    challenger_alias: str | None = Field(
        "staging",
        description="A model service following a registry alias also loads this "
        "one's version and answers /predict/challenger with it (None: no challenger).",
    )
    drift_interval_s: float = Field(
        300,
        ge=0,
        description="How often the agent compares recent tickets with the models' "
        "reference profiles (callcenterai_drift); 0: never.",
    )
    drift_window_hours: float = Field(24, gt=0, description="The window of recent tickets.")
    drift_min_tickets: int = Field(
        100, ge=1, description="Fewer tickets in the window: no drift figure (too noisy)."
    )
    review_min_confidence: float = Field(
        0.5, ge=0, le=1, description="Answers below this confidence go to the review queue."
    )
    route: RoutingSettings = Field(
        default_factory=RoutingSettings,
        description="The routing policy (CALLCENTERAI_ROUTE_<FIELD>, e.g. "
        "CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE).",
    )

    @property
    def local_mlflow_dir(self) -> Path:
        return self.home / "mlruns"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.local_mlflow_dir / 'mlflow.db'}"

    @property
    def uses_local_store(self) -> bool:
        return not self.mlflow_tracking_uri

    @property
    def ticket_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.home / 'build' / 'stack' / 'tickets.db'}"

    @field_validator("api_key", mode="after")
    @classmethod
    def _blank_key_is_no_key(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @property
    def docs_enabled(self) -> bool:
        return self.api_key is None if self.api_docs is None else self.api_docs

    def default_model_uri(self, kind: str) -> str:
        if self.model_uri:
            return self.model_uri
        if self.mlflow_tracking_uri:
            return f"models:/callcenterai-{kind}@{PRODUCTION_ALIAS}"
        return str(self.home / "models" / kind)


@lru_cache
def get_settings() -> Settings:
    return Settings()


class DataParams(BaseModel):
    input: str = "data/reference/kaggle_it_tickets.csv.xz"
    text_columns: list[str] = ["Document"]
    label_column: str = "Topic_group"
    val_size: float = Field(0.1, gt=0, lt=0.5)
    test_size: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 42
    min_per_label: int = Field(
        5,
        ge=2,
        description="Labels with fewer examples are dropped (and counted) before splitting.",
    )
    short_ticket_words: int = Field(
        12, description="Tickets with at most this many words form the 'short' evaluation slice."
    )
    scrub_names: bool = Field(
        True,
        description="Mask people's names (English, French) in training and evaluation texts, as "
        "the agent does before a model call; false: structured identifiers only (faster).",
    )


class TfidfParams(BaseModel):
    ngram_max: int = Field(2, ge=1, le=3)
    min_df: int = Field(2, ge=1)
    max_df: float = Field(1.0, gt=0, le=1.0)
    sublinear_tf: bool = True
    max_features: int | None = None
    C: float = Field(0.3, gt=0)
    class_weight: str | None = None
    calibration_method: str = Field("sigmoid", pattern="^(sigmoid|isotonic)$")
    calibration_folds: int = Field(5, ge=2)
    calibration_ensemble: bool = False


class TransformerParams(BaseModel):
    base_model: str = Field(
        "multilingual-e5-small-offline",
        description="Hub name (e.g. distilbert-base-multilingual-cased), a local folder, or "
        "multilingual-e5-small-offline (rebuilt from PyPI packages, works without the hub).",
    )
    max_length: int = Field(128, ge=8, le=512)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    epochs: int = Field(3, ge=1)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    freeze_embeddings: bool = True
    class_weighting: str = Field("none", pattern="^(none|balanced)$")
    early_stopping_patience: int = Field(1, ge=0)
    max_train_samples: int | None = Field(
        None, ge=8, description="Kaggle training tickets kept (stratified); natural ones all stay."
    )
    max_val_samples: int | None = Field(
        None, ge=8, description="Validation tickets kept (stratified by label)."
    )
    torch_threads: int | None = None
    quantize_embeddings: bool = True
    max_int8_f1_drop: float = Field(
        0.005, ge=0, description="int8 is served only if it loses at most this validation macro-F1."
    )


class NaturalParams(BaseModel):
    """The natural-ticket corpus (data/natural) added to training, and the natural evaluation set.

    Relative paths are relative to the project folder.
    """

    corpus: str | None = Field(
        None, description="Natural tickets added to training and validation; None: Kaggle only."
    )
    eval: str = "data/eval/multilingual_tickets.csv"
    val_size: float = Field(0.2, gt=0, lt=0.5, description="Share of the corpus kept for tuning.")
    weight: float = Field(
        1.0, gt=0, description="Weight of a natural ticket in training, a Kaggle ticket's is 1."
    )

    def path(self, name: str) -> Path | None:
        value = getattr(self, name)
        return None if value is None else project_file(value)


class FeedbackParams(BaseModel):
    """Corrections from the ticket store (``callcenterai feedback export``) added to training.

    A stable share of them, chosen by ticket id (a ticket once held out stays held out as the
    corrections grow), never trains and is evaluated on instead.
    """

    corrections: str | None = Field(
        None, description="The exported corrections (CSV); None: no corrections."
    )
    weight: float = Field(
        4.0, gt=0, description="Weight of a corrected ticket in training, a Kaggle ticket's is 1."
    )
    holdout: float = Field(
        0.2, ge=0, lt=1, description="Share of corrections kept out of training, for evaluation."
    )


class PromotionParams(BaseModel):
    min_improvement: float = Field(
        0.0, description="A challenger needs champion macro-F1 + this to take the production alias."
    )
    min_corrections: int = Field(
        20, ge=1, description="Held-out corrections needed before they decide the promotion."
    )
    max_test_drop: float = Field(
        0.005,
        ge=0,
        description="With corrections deciding: most test macro-F1 a challenger "
        "may lose against the champion.",
    )


class QuickParams(BaseModel):
    """The first start's transformer (``make run`` on a fresh clone), trained in the background
    while TF-IDF already answers: overrides of ``transformer`` that bound its time."""

    transformer: dict[str, Any] = Field(default_factory=dict)


class Params(BaseModel):
    data: DataParams = DataParams()
    tfidf: TfidfParams = TfidfParams()
    transformer: TransformerParams = TransformerParams()
    natural: NaturalParams = NaturalParams()
    feedback: FeedbackParams = FeedbackParams()
    promotion: PromotionParams = PromotionParams()
    quick: QuickParams = QuickParams()

    def quick_profile(self) -> Params:
        """These parameters with the quick transformer (validated like the full one)."""
        transformer = TransformerParams.model_validate(
            {**self.transformer.model_dump(), **self.quick.transformer}
        )
        return self.model_copy(update={"transformer": transformer})


def project_file(relative: str | Path) -> Path:
    """A file of the project (shipped data, corpus) named relative to its folder: in the project
    folder, or else under ``CALLCENTERAI_HOME`` (the images install the package elsewhere and keep
    the project's data under /app)."""
    path = PROJECT_ROOT / relative
    if path.exists():
        return path
    home = get_settings().home / relative
    return home if home.exists() else path


def load_params(path: Path | str | None = None) -> Params:
    """Read ``params.yaml`` (the project's own by default); missing keys take their defaults."""
    path = Path(path) if path else PROJECT_ROOT / "params.yaml"
    if not path.exists():
        return Params()
    with path.open(encoding="utf-8") as handle:
        return Params.model_validate(yaml.safe_load(handle) or {})


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or get_settings().log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
