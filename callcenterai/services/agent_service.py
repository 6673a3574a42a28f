"""The agent: the front door of CallCenterAI (``POST /classify`` and the chat page at ``/``).

For each ticket, in this order: input limits; PII scrubbing (structured identifiers, then
person names in the detected language); language, length and complexity; the routing policy
(:mod:`callcenterai.agent.routing`); the model services over HTTP, with timeouts and a circuit
breaker each; the answer with an explanation of the choice. Only scrubbed text leaves this
function: the model services, the logs and the metrics never see the raw ticket.

If the model the policy wanted fails, the other one answers and the explanation and
``callcenterai_fallbacks`` say so; if both fail, 503. A forced model that fails is a 503 too:
the caller asked for that model, not for any answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader

from callcenterai.agent import pii
from callcenterai.agent.routing import (
    TFIDF,
    TRANSFORMER,
    RoutingPolicy,
    Signals,
    needs_transformer,
    pick_answer,
    plan_route,
)
from callcenterai.agent.ticket import Scrubbed
from callcenterai.config import Settings, get_settings
from callcenterai.services.common import check_text, install_common
from callcenterai.services.downstream import DownstreamError, ModelClient
from callcenterai.services.metrics import AgentMetrics
from callcenterai.services.schemas import (
    AgentHealth,
    ClassifyRequest,
    ClassifyResponse,
    ErrorBody,
    Explanation,
    LanguageInfo,
    ModelRef,
    RuleFired,
    Term,
)

logger = logging.getLogger(__name__)
ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 413, 422, 503)}
NAMES = {TFIDF: "TF-IDF", TRANSFORMER: "the transformer"}
LANGUAGE_NAMES = {"en": "English", "fr": "French", "ar": "Arabic", "und": "undetermined"}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def describe(
    answered: str,
    signals: Signals,
    rules: list,
    forced: bool,
    fallback: str | None,
    answers: dict,
    policy: RoutingPolicy,
) -> str:
    """The one-sentence reason."""
    name = NAMES[answered]
    if forced:
        return f"{name[0].upper()}{name[1:]} answered because the request forced it."
    if fallback:
        return f"{name[0].upper()}{name[1:]} answered because {fallback}."
    fired = {rule.name: rule for rule in rules if rule.fired}
    if "language" in fired:
        known = "/".join(language_name(code) for code in policy.tfidf_languages)
        return (
            f"The transformer answered: the ticket is in {language_name(signals.language)} "
            f"({signals.language}, confidence {signals.language_confidence:.2f}) and TF-IDF "
            f"only knows {known}."
        )
    tfidf_conf = answers[TFIDF]["confidence"]
    if not fired:
        return (
            f"TF-IDF answered: {language_name(signals.language)} ticket and TF-IDF was confident "
            f"({tfidf_conf:.2f} >= {policy.tfidf_min_confidence})."
        )
    why = []
    if "tfidf_confidence" in fired:
        why.append(f"TF-IDF was unsure ({tfidf_conf:.2f} < {policy.tfidf_min_confidence})")
    if "complexity" in fired:
        why.append(
            f"the ticket is complex ({signals.complexity:.2f} >= {policy.complexity_threshold})"
        )
    both = f"{' and '.join(why)}, so the transformer was consulted"
    if TRANSFORMER not in answers:
        return f"TF-IDF answered: {both}, but it did not answer."
    other = TFIDF if answered == TRANSFORMER else TRANSFORMER
    return (
        f"{name[0].upper()}{name[1:]} answered: {both}; its answer was the more confident "
        f"({answers[answered]['confidence']:.2f} vs {answers[other]['confidence']:.2f})."
        if policy.answer == "most_confident"
        else f"The transformer answered: {both}."
    )


class Agent:
    """The classification flow, over two model clients; the routes stay thin."""

    def __init__(self, settings: Settings, metrics: AgentMetrics):
        self.settings, self.metrics = settings, metrics
        self.policy = RoutingPolicy.from_settings(settings)
        common = dict(
            breaker_failures=settings.breaker_failures,
            breaker_reset_s=settings.breaker_reset_s,
            metrics=metrics,
        )
        self.clients = {
            TFIDF: ModelClient(TFIDF, settings.tfidf_url, settings.tfidf_timeout_s, **common),
            TRANSFORMER: ModelClient(
                TRANSFORMER, settings.transformer_url, settings.transformer_timeout_s, **common
            ),
        }

    async def _call(self, kind: str, text: str, answers: dict, failures: dict) -> bool:
        try:
            answers[kind] = await self.clients[kind].predict(text, explain=kind == TFIDF)
            return True
        except DownstreamError as exc:
            failures[kind] = exc.reason
            return False

    async def classify(self, request: ClassifyRequest) -> ClassifyResponse:
        # CPU work (the name model takes a few ms): off the event loop, so that other tickets'
        # downstream calls go on meanwhile.
        scrubbed = await asyncio.get_running_loop().run_in_executor(
            None, Scrubbed, request.text, self.settings
        )
        signals = scrubbed.signals
        self.metrics.observe_ticket(signals.language, scrubbed.counts)
        plan = plan_route(signals, self.policy, request.force_model)
        answers: dict[str, dict] = {}
        failures: dict[str, str] = {}
        text = scrubbed.text

        await self._call(plan.first, text, answers, failures)
        if plan.forced:
            if failures:
                raise HTTPException(
                    503, f"the forced model is unavailable: {plan.first} ({failures[plan.first]})"
                )
        elif plan.first == TFIDF:
            consult = TFIDF not in answers or needs_transformer(
                plan, answers[TFIDF]["confidence"], self.policy
            )
            if consult:
                await self._call(TRANSFORMER, text, answers, failures)
        elif failures:  # the transformer was wanted and failed: TF-IDF is the fallback
            await self._call(TFIDF, text, answers, failures)

        if not answers:
            detail = ", ".join(f"{kind} ({reason})" for kind, reason in failures.items())
            raise HTTPException(503, f"no model service answered: {detail}; retry later")
        answered, fallback = self._choose(plan, answers, failures)
        return self._response(request, scrubbed, plan, answers, answered, fallback)

    def _choose(self, plan, answers: dict, failures: dict) -> tuple[str, str | None]:
        if len(answers) == 2:
            return (
                pick_answer(
                    answers[TFIDF]["confidence"], answers[TRANSFORMER]["confidence"], self.policy
                ),
                None,
            )
        (answered,) = answers
        failed = next(iter(failures), None)
        wanted_other = failed is not None and (failed == plan.first or plan.first == TFIDF)
        if not wanted_other:
            return answered, None
        reason = f"the {failed} service did not answer ({failures[failed]})"
        self.metrics.fallbacks.labels(failed, answered, failures[failed]).inc()
        return answered, reason

    def _response(self, request, scrubbed, plan, answers, answered, fallback) -> ClassifyResponse:
        signals, answer = scrubbed.signals, answers[answered]
        route_reason = (
            "forced"
            if plan.forced
            else "fallback" if fallback else _main_reason(plan.rules, len(answers))
        )
        self.metrics.routes.labels(answered, route_reason).inc()
        self.metrics.observe_predictions(answered, [answer["label"]], [answer["confidence"]])
        top_terms = None
        if answered == TFIDF and answer.get("explanation"):
            top_terms = [Term(**term) for term in answer["explanation"]]
        explanation = Explanation(
            reason=describe(
                answered, signals, plan.rules, plan.forced, fallback, answers, self.policy
            ),
            forced=plan.forced,
            fallback=fallback is not None,
            fallback_reason=fallback,
            rules=[RuleFired(**rule.as_dict()) for rule in plan.rules],
            models_called=list(answers),
            chars=signals.chars,
            words=signals.words,
            sentences=signals.sentences,
            complexity=signals.complexity,
            tfidf_confidence=answers.get(TFIDF, {}).get("confidence"),
            transformer_confidence=answers.get(TRANSFORMER, {}).get("confidence"),
            tfidf_label=answers.get(TFIDF, {}).get("label"),
            transformer_label=answers.get(TRANSFORMER, {}).get("label"),
            top_terms=top_terms,
        )
        logger.info(
            "classified: model=%s reason=%s language=%s words=%d pii=%s",
            answered,
            route_reason,
            signals.language,
            signals.words,
            sum(scrubbed.counts.values()),
        )
        return ClassifyResponse(
            label=answer["label"],
            confidence=answer["confidence"],
            model_used=answered,
            model=ModelRef(**answer["model"]),
            language=LanguageInfo(
                code=scrubbed.language.code, confidence=scrubbed.language.confidence
            ),
            pii=scrubbed.counts,
            scrubbed_text=scrubbed.text,
            channel=request.channel,
            explanation=explanation,
        )

    async def health(self) -> AgentHealth:
        states = await asyncio.gather(*(client.health() for client in self.clients.values()))
        downstream = dict(zip(self.clients, states))
        ready = sum(state["ready"] for state in states)
        return AgentHealth(
            status="ok" if ready == 2 else "degraded" if ready else "down",
            downstream=downstream,
            pii_person_names=self.settings.pii_person_names and pii.names_available(),
            routing={
                "tfidf_languages": list(self.policy.tfidf_languages),
                "min_language_confidence": self.policy.min_language_confidence,
                "tfidf_min_confidence": self.policy.tfidf_min_confidence,
                "complexity_threshold": self.policy.complexity_threshold,
                "answer": self.policy.answer,
            },
        )

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


def _main_reason(rules, models_answered: int) -> str:
    fired = [rule.name for rule in rules if rule.fired]
    if "language" in fired:
        return "non_english"
    if "tfidf_confidence" in fired:
        return "low_confidence"
    if "complexity" in fired:
        return "complex"
    return "confident" if models_answered == 1 else "consulted"


def api_key_guard(settings: Settings):
    """A dependency that requires ``X-API-Key`` when a key is configured (constant-time check)."""
    header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def check(key: str | None = Depends(header)) -> None:
        expected = settings.api_key.get_secret_value() if settings.api_key else None
        if expected and not (key and secrets.compare_digest(key, expected)):
            raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header")

    return check


def chat_page(settings: Settings) -> str:
    page = resources.files("callcenterai.services").joinpath("static/chat.html").read_text("utf-8")
    return page.replace("{{AUTH}}", "true" if settings.api_key else "false")


def create_agent_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # httpx logs every downstream call at INFO; the agent logs one line per ticket instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    metrics = AgentMetrics("agent")
    agent = Agent(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.pii_person_names:
            # Load the name models now (seconds), not during the first customer's request.
            await asyncio.get_running_loop().run_in_executor(None, pii.warm_up)
        yield
        await agent.close()

    app = FastAPI(
        title="CallCenterAI agent",
        description="Scrubs PII, routes each ticket to the TF-IDF or the transformer service, "
        "and explains the choice. Chat page at `/`.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.agent = agent
    install_common(app, metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key"],
        )
    page = chat_page(settings)

    @app.post(
        "/classify",
        response_model=ClassifyResponse,
        responses=ERRORS,
        dependencies=[Depends(api_key_guard(settings))],
    )
    async def classify(request: ClassifyRequest) -> ClassifyResponse:
        """Scrub, analyse, route and classify one ticket; the answer explains the choice."""
        check_text(request.text, settings)
        return await agent.classify(request)

    @app.get("/health", response_model=AgentHealth)
    async def health() -> AgentHealth:
        """Liveness (always 200 while the agent runs) and the state of both model services."""
        return await agent.health()

    @app.get("/ready", response_model=AgentHealth, responses={503: {"model": AgentHealth}})
    async def ready() -> JSONResponse:
        """200 when at least one model service is ready, else 503."""
        body = await agent.health()
        return JSONResponse(body.model_dump(), status_code=503 if body.status == "down" else 200)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat() -> HTMLResponse:
        return HTMLResponse(page)

    return app
