"""The model services: one FastAPI app per model kind (``tfidf`` or ``transformer``).

The model is loaded in the background when the app starts, so ``/health`` answers at once and
``/ready`` turns 200 only when the model is in memory. A service given a registry alias
(``models:/callcenterai-tfidf@production``, the default with a tracking server) follows it: every
``model_poll_s`` seconds it asks which version holds the alias and, when that changed, loads the
new version in the background and swaps it in at once; requests already running finish on the
model they started with, and a version that fails to load leaves the previous one serving (logged,
``callcenterai_model_reload_failed`` 1, ``reload_error`` in ``/health``).

Model calls run in a bounded thread pool (``model_workers``), so the CPU-bound inference never
blocks the event loop and never runs more copies at once than the machine has room for;
concurrent single-ticket requests can be joined into one call (``micro_batch_size``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from callcenterai.config import Settings, get_settings
from callcenterai.errors import CallCenterAIError
from callcenterai.models.base import Classifier, top_labels
from callcenterai.models.store import is_mlflow_uri, load_classifier
from callcenterai.registry import alias_version, parse_alias_uri
from callcenterai.services.common import (
    body_limit,
    check_batch,
    check_text,
    declare_input_limits,
    install_common,
)
from callcenterai.services.metrics import ModelMetrics
from callcenterai.services.schemas import (
    BatchPrediction,
    BatchRequest,
    ErrorBody,
    Health,
    ModelRef,
    Prediction,
    PredictRequest,
    Term,
)
from callcenterai.tracking import use_tracking

logger = logging.getLogger(__name__)
ERRORS = {code: {"model": ErrorBody} for code in (400, 413, 422, 503)}


def _failure(exc: Exception, uri: str) -> str:
    if isinstance(exc, CallCenterAIError):
        return str(exc)
    return f"{type(exc).__name__} while loading {uri}"  # reported, never a trace


class AliasSource:
    """A registry alias to follow: which version holds it now, and how to load one version."""

    def __init__(self, uri: str, load_version: Callable[[str], object]):
        self.uri = uri
        self.name, self.alias, _ = parse_alias_uri(uri)
        self.load_version = load_version

    def current(self) -> str | None:
        from mlflow.tracking import MlflowClient

        version = alias_version(self.name, self.alias, MlflowClient())
        return None if version is None else str(version.version)


class ModelState:
    """The served model and its loading status, shared by the routes.

    ``self.model`` is replaced in one assignment; a request reads it once and keeps that model.
    A version that failed to load is tried again after ``RETRY_FIRST_S``, then after twice as
    long each time up to ``RETRY_MAX_S`` (a download cut by a registry restart heals itself; a
    broken version costs one log line per try), and at once when the alias moves.
    """

    RETRY_FIRST_S = 30.0
    RETRY_MAX_S = 600.0

    def __init__(
        self,
        kind: str,
        uri: str,
        loader: Callable[[], object] | None = None,
        source: AliasSource | None = None,
        metrics: ModelMetrics | None = None,
    ):
        self.kind, self.uri, self.loader, self.source = kind, uri, loader, source
        self.metrics = metrics or ModelMetrics(kind)
        self.model = None
        self.error: str | None = None  # why no model is served
        self.reload_error: str | None = None  # why the newest version is not the one served
        self.failed_version: str | None = None
        self.failed_attempts = 0  # tries of failed_version so far
        self.retry_at = 0.0  # time.monotonic() from which failed_version is tried again
        self.waiting = False  # following an alias that no version holds yet
        self.loaded = threading.Event()

    @property
    def version(self) -> str | None:
        return None if self.model is None else str(self.model.version)

    def load(self) -> None:
        """The first load: the fixed model, or the alias's current version."""
        try:
            if self.source is not None:
                self.refresh()
                return
            try:
                self._serve(self.loader())
            except Exception as exc:  # noqa: BLE001 - reported through /health
                self.error = _failure(exc, self.uri)
                logger.error("model not loaded: %s", self.error)
        finally:
            self.loaded.set()

    def refresh(self) -> bool:
        """One poll of the alias: load and swap in the version it points to if it is new.

        Returns True when another model is now served. Never raises: a registry that cannot be
        asked, or a version that cannot be loaded, leaves the current model serving.
        """
        try:
            target = self.source.current()
        except Exception as exc:  # noqa: BLE001 - the registry is down: keep serving
            self.metrics.reloads.labels(self.kind, "registry_error").inc()
            if self.model is None:
                self.error = f"cannot ask the registry for {self.uri}: {_failure(exc, self.uri)}"
            logger.warning("registry not reachable for %s: %s", self.uri, _failure(exc, self.uri))
            return False
        self.waiting = target is None and self.model is None
        if self.waiting:
            self.error = f"no version holds {self.uri} yet; waiting for one (asking every poll)"
        if target is None:
            return False
        if target == self.version:
            if self.failed_version is not None:  # the alias came back (a rollback): all is well
                self._clear_failure()
            return False
        if target == self.failed_version and time.monotonic() < self.retry_at:
            return False
        retry = target == self.failed_version
        logger.info(
            "%s %s version %s; loading it", self.uri,
            "tries again" if retry else "now points to", target,
        )  # fmt: skip
        try:
            model = self.source.load_version(target)
        except Exception as exc:  # noqa: BLE001 - the previous model keeps serving
            self.failed_attempts = self.failed_attempts + 1 if retry else 1
            self.failed_version = target
            delay = min(self.RETRY_MAX_S, self.RETRY_FIRST_S * 2 ** (self.failed_attempts - 1))
            self.retry_at = time.monotonic() + delay
            self.reload_error = (
                f"version {target} failed to load: {_failure(exc, self.uri)} "
                f"(tried {self.failed_attempts} time(s); next try in {delay:.0f} s)"
            )
            if self.model is None:
                self.error = self.reload_error
            self.metrics.reloads.labels(self.kind, "failed").inc()
            self.metrics.reload_failed.labels(self.kind).set(1)
            logger.error(
                "%s: %s; %s", self.uri, self.reload_error,
                f"still serving version {self.version}" if self.model else "no model served",
            )  # fmt: skip
            return False
        previous = self.version
        self._serve(model)
        self._clear_failure()
        self.metrics.reloads.labels(self.kind, "loaded").inc()
        logger.info("%s: now serving version %s (was %s)", self.uri, target, previous)
        return True

    def _clear_failure(self) -> None:
        self.failed_version = self.reload_error = None
        self.failed_attempts = 0
        self.metrics.reload_failed.labels(self.kind).set(0)

    def _serve(self, model) -> None:
        self.model, self.error = model, None
        self.metrics.set_model(self.kind, model.name, str(model.version), self.uri)

    @property
    def status(self) -> str:
        if self.model is not None:
            return "ok"
        if self.waiting:
            return "waiting"
        return "failed" if self.error else "loading"

    def require(self):
        model = self.model
        if model is None:
            detail = self.error or "the model is still loading; retry shortly"
            raise HTTPException(503, detail)
        return model


def predictions_from(
    model: Classifier, texts: list[str], explain: bool = False, top_k: int = 5
) -> list[Prediction]:
    probabilities = model.predict_proba(texts)
    labels, confidences = top_labels(probabilities, model.labels)
    ref = ModelRef(name=model.name, version=str(model.version))
    unknown = model.unknown_word_share(texts) or [None] * len(texts)
    results = []
    for text, row, label, confidence, share in zip(
        texts, probabilities, labels, confidences, unknown
    ):
        terms = model.explain(text, label=label, top_k=top_k) if explain else None
        results.append(
            Prediction(
                label=label,
                confidence=float(confidence),
                probabilities={name: float(p) for name, p in zip(model.labels, row)},
                model=ref,
                explanation=None if terms is None else [Term(**vars(t)) for t in terms],
                unknown_word_share=share,
            )
        )
    return results


BUSY_RETRY_AFTER_S = "1"  # a micro-batch takes milliseconds: the queue drains within a second
CLIENT_GONE = "the client closed the request before its turn; nothing was computed"  # to nobody


class MicroBatcher:
    """Joins concurrent single-ticket requests into one model call.

    A batch of 8 tickets costs much less than 8 single calls (one HTTP-to-model hop, vectorised
    inference); under concurrent load this raises throughput (see reports/benchmark.md). Requests
    that queued while the model was busy form the next batch; the first request may also wait up
    to ``wait_ms`` for others (0 by default: no added latency). ``max_size`` 1 turns it off.

    At most ``queue_size`` requests wait: past that the model cannot keep up, a longer queue
    would only make every answer later than its client waits, so a request is refused at once
    (503 with Retry-After; the agent answers with the other model). A request whose client has
    gone before its turn (it hung up, or its task was cancelled) is dropped, not computed.
    ``dropped`` counts both, by reason (``queue_full``, ``cancelled``).
    """

    def __init__(
        self,
        run_model,
        max_size: int,
        wait_ms: float,
        queue_size: int = 256,
        dropped: Callable[[str], None] = lambda reason: None,
    ):
        self.run_model, self.max_size, self.wait = run_model, max_size, wait_ms / 1000
        self.queue_size, self.dropped = queue_size, dropped
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None

    async def predict(self, model, text: str, disconnected=None) -> Prediction:
        """``disconnected``: an async callable, true once the client is gone
        (``Request.is_disconnected``)."""
        if self.max_size <= 1:
            (prediction,) = await self.run_model(predictions_from, model, [text])
            return prediction
        if self.worker is None or self.worker.done():
            self.queue = asyncio.Queue(maxsize=self.queue_size)
            self.worker = asyncio.create_task(self._work())
        future = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((model, text, future, disconnected))
        except asyncio.QueueFull:
            self.dropped("queue_full")
            raise HTTPException(
                503,
                f"the service is busy: {self.queue_size} requests are already waiting for the "
                f"model; retry in {BUSY_RETRY_AFTER_S} s",
                headers={"Retry-After": BUSY_RETRY_AFTER_S},
            ) from None
        return await future

    async def _collect(self) -> list:
        batch = [await self.queue.get()]
        # Whatever queued while the previous batch ran joins at once; no waiting is needed for
        # batches to form under load.
        while len(batch) < self.max_size and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        deadline = asyncio.get_running_loop().time() + self.wait
        while len(batch) < self.max_size:
            timeout = deadline - asyncio.get_running_loop().time()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), timeout))
            except asyncio.TimeoutError:
                break
        return batch

    async def _abandoned(self, future: asyncio.Future, disconnected) -> bool:
        if future.done():  # its request was cancelled
            self.dropped("cancelled")
            return True
        try:
            gone = disconnected is not None and await disconnected()
        except Exception:  # noqa: BLE001 - unknown: compute it, the worker must not die
            gone = False
        if gone:
            self.dropped("cancelled")
            future.set_exception(HTTPException(499, CLIENT_GONE))
        return gone

    async def _work(self) -> None:
        while True:
            batch = await self._collect()
            waiting = [
                (text, future)
                for _, text, future, disconnected in batch
                if not await self._abandoned(future, disconnected)
            ]
            if not waiting:
                continue
            try:
                results = await self.run_model(
                    predictions_from, batch[0][0], [text for text, _ in waiting]
                )
            except Exception as exc:  # noqa: BLE001 - handed to each waiting request
                results = [exc] * len(waiting)
            for (_, future), result in zip(waiting, results):
                if future.done():  # the client went away meanwhile
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.worker = None
        while self.queue is not None and not self.queue.empty():
            _, _, future, _ = self.queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("service shutting down"))


def default_loader(kind: str, uri: str, settings: Settings) -> Callable[[], object]:
    def load():
        if is_mlflow_uri(uri):
            use_tracking(settings, serving=True)
        options = {}
        if settings.inference_threads and kind == "transformer":
            options["threads"] = settings.inference_threads
        return load_classifier(uri, **options)

    return load


def follows_alias(uri: str, settings: Settings) -> bool:
    """A ``models:/name@alias`` URI is followed unless polling is off (``model_poll_s`` 0)."""
    return settings.model_poll_s > 0 and uri.startswith("models:/") and "@" in uri


def alias_source(kind: str, uri: str, settings: Settings) -> AliasSource:
    use_tracking(settings, serving=True)
    name, _, _ = parse_alias_uri(uri)
    return AliasSource(
        uri, lambda version: default_loader(kind, f"models:/{name}/{version}", settings)()
    )


def create_model_app(
    kind: str,
    settings: Settings | None = None,
    loader: Callable[[], object] | None = None,
    model_uri: str | None = None,
) -> FastAPI:
    """Build the service for ``kind``; ``loader`` returns the model (default: from the URI,
    following it when it is a registry alias)."""
    settings = settings or get_settings()
    uri = model_uri or settings.default_model_uri(kind)
    metrics = ModelMetrics(kind)
    if loader is None and follows_alias(uri, settings):
        state = ModelState(kind, uri, source=alias_source(kind, uri, settings), metrics=metrics)
    else:
        state = ModelState(
            kind, uri, loader or default_loader(kind, uri, settings), metrics=metrics
        )
    challenger = None
    if state.source is not None and settings.challenger_alias:
        name, alias, _ = parse_alias_uri(uri)
        if alias != settings.challenger_alias:
            challenger_uri = f"models:/{name}@{settings.challenger_alias}"
            challenger = ModelState(
                kind,
                challenger_uri,
                source=alias_source(kind, challenger_uri, settings),
                metrics=ModelMetrics(kind),  # not exported: /metrics describes production
            )
    executor = ThreadPoolExecutor(max_workers=settings.model_workers, thread_name_prefix="model")
    # Loading runs in its own thread, so predictions go on while a new version loads.
    loading_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")

    async def run_model(function, *args):
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)

    batcher = MicroBatcher(
        run_model,
        settings.micro_batch_size,
        settings.micro_batch_wait_ms,
        settings.micro_batch_queue_size,
        dropped=lambda reason: metrics.micro_batch_dropped.labels(kind, reason).inc(),
    )

    async def follow() -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(loading_executor, state.load)
        if challenger is not None:
            await loop.run_in_executor(loading_executor, challenger.load)
        while state.source is not None:
            # Without a model (first start: the version is being trained) ask every second.
            interval = settings.model_poll_s if state.model is not None else 1.0
            await asyncio.sleep(min(interval, settings.model_poll_s))
            await loop.run_in_executor(loading_executor, state.refresh)
            if challenger is not None:
                await loop.run_in_executor(loading_executor, challenger.refresh)

    def current_challenger():
        """The staging model when it differs from the one served, else None."""
        model = challenger.model if challenger is not None else None
        if model is None or str(model.version) == state.version:
            return None
        return model

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        following = asyncio.create_task(follow())
        yield
        following.cancel()
        batcher.close()
        executor.shutdown(wait=False, cancel_futures=True)
        loading_executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title=f"CallCenterAI {kind} service",
        description=f"Classifies tickets with the {kind} model. Raw text in; normalised inside.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.model_state = state
    app.state.batcher = batcher
    install_common(app, metrics, body_limit(settings, texts=settings.max_batch_size))
    declare_input_limits(app, settings)

    @app.post("/predict", response_model=Prediction, responses=ERRORS)
    async def predict(request: PredictRequest, http: Request) -> Prediction:
        check_text(request.text, settings)
        model = state.require()
        if request.explain:
            (prediction,) = await run_model(
                predictions_from, model, [request.text], True, settings.explain_top_k
            )
        else:
            prediction = await batcher.predict(model, request.text, http.is_disconnected)
        metrics.observe_predictions(model.name, [prediction.label], [prediction.confidence])
        return prediction

    @app.post("/predict/batch", response_model=BatchPrediction, responses=ERRORS)
    async def predict_batch(request: BatchRequest) -> BatchPrediction:
        check_batch(request.texts, settings)
        model = state.require()
        predictions = await run_model(predictions_from, model, request.texts)
        metrics.observe_predictions(
            model.name, [p.label for p in predictions], [p.confidence for p in predictions]
        )
        return BatchPrediction(predictions=predictions)

    @app.post(
        "/predict/challenger",
        response_model=Prediction,
        responses={**ERRORS, 404: {"model": ErrorBody}},
    )
    async def predict_challenger(request: PredictRequest) -> Prediction:
        """The staging version's answer (the agent's shadow calls); 404 without a challenger."""
        check_text(request.text, settings)
        model = current_challenger()
        if model is None:
            raise HTTPException(
                404, "no challenger: no staging version other than the one in production"
            )
        (prediction,) = await run_model(predictions_from, model, [request.text])
        return prediction

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """Liveness: 200 while the process answers (a restart would not fix a missing model).

        Reports the model and its status (loading, ok, failed with the reason); readiness is
        ``/ready``.
        """
        return _health(state, current_challenger())

    @app.get("/ready", response_model=Health, responses={503: {"model": Health}})
    def ready() -> JSONResponse:
        """Readiness: 200 only once the model is loaded; 503 while loading or after a failure."""
        body = _health(state)
        return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)

    return app


def _health(state: ModelState, challenger=None) -> Health:
    model = state.model
    ref = ModelRef(name=model.name, version=str(model.version)) if model is not None else None
    return Health(
        status=state.status,
        ready=model is not None,
        kind=state.kind,
        model=ref,
        uri=state.uri,
        error=state.error,
        follows_alias=state.source is not None,
        reload_error=state.reload_error,
        challenger=(
            None
            if challenger is None
            else ModelRef(name=challenger.name, version=str(challenger.version))
        ),
    )
