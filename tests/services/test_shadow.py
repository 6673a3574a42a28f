"""The shadow challenger: a share of live tickets also goes to the staging model, off the response
path; its answers are stored beside production's and reach the promotion decision."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from callcenterai.config import RoutingSettings, Settings, get_settings
from callcenterai.pipeline import stage_promote
from callcenterai.services.agent_service import create_agent_app
from callcenterai.services.downstream import ModelClient
from callcenterai.tickets.store import TicketStore
from tests.conftest import free_port, start_service

pytestmark = pytest.mark.slow

TICKETS = [
    "My laptop screen is broken since this morning",
    "Please reset my password, I am locked out",
    "I need a new keyboard for the office",
    "The shared drive of the finance team is full",
    "Grant me admin rights to install Python",
    "My payslip of last month is missing",
]
TFIDF_ONLY = RoutingSettings(tfidf_min_confidence=0.0)  # TF-IDF answers every English ticket


def agent_settings(tfidf_url: str, **overrides) -> Settings:
    return Settings(
        tfidf_url=tfidf_url,
        transformer_url=f"http://127.0.0.1:{free_port()}",  # never consulted here
        route=TFIDF_ONLY,
        pii_person_names=False,
        **overrides,
    )


def test_challenger_answers_are_stored_and_reach_the_promotion(
    champion_and_challenger, params, tmp_path
):
    layout, production, staging = champion_and_challenger
    tracking = get_settings().tracking_uri
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "CALLCENTERAI_MODEL_POLL_S": "1"}
    port = free_port()
    service = start_service("tfidf", port, tmp_path, env=env)  # follows @production
    url = f"http://127.0.0.1:{port}"
    try:
        with TestClient(create_agent_app(agent_settings(url, shadow_share=1.0))) as agent:
            health = agent.get("/health").json()["downstream"]["tfidf"]
            assert health["model"]["version"] == production
            shadowed = [agent.post("/classify", json={"text": t}).json() for t in TICKETS]
            for body in shadowed[:3]:  # people correct three of them
                agent.post(f"/tickets/{body['ticket_id']}/feedback", json={"label": "Access"})
            deadline = time.monotonic() + 20
            while "callcenterai_shadow_predictions_total" not in agent.get("/metrics").text:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with TestClient(create_agent_app(agent_settings(url, shadow_share=0.0))) as plain:
            unshadowed = [plain.post("/classify", json={"text": t}).json() for t in TICKETS]
    finally:
        service.stop()

    # The shadow never changes the answer: same label, confidence and model as without it.
    for with_shadow, without in zip(shadowed, unshadowed):
        for key in ("label", "confidence", "model", "model_used"):
            assert with_shadow[key] == without[key]

    store = TicketStore(get_settings().ticket_store_url)
    summary = store.shadow_summary("callcenterai-tfidf", staging)
    store.close()
    assert summary["shadowed"] == len(TICKETS) and summary["corrected"] == 3
    assert 0 <= summary["agreement"] <= 1

    decision = stage_promote(layout, params)
    assert decision["live"] == summary
    tags = MlflowClient().get_model_version("callcenterai-tfidf", staging).tags
    assert tags["promotion.live_shadowed"] == str(len(TICKETS))
    assert tags["promotion.live_corrected"] == "3"


def test_a_slow_challenger_never_delays_the_answer(model_services, tmp_path, monkeypatch):
    """The challenger takes 1.5 s (a stand-in for a slow staging model): /classify answers at
    production's speed, a second ticket finds the one shadow slot busy, and the shadow result
    arrives later."""
    calls = []

    async def slow_challenger(self, text):
        calls.append(text)
        await asyncio.sleep(1.5)
        return None  # as a service without a challenger answers

    monkeypatch.setattr(ModelClient, "challenger", slow_challenger)
    settings = agent_settings(
        model_services["tfidf"],
        shadow_share=1.0,
        shadow_max_in_flight=1,
        store_url=f"sqlite:///{tmp_path / 'tickets.db'}",
    )
    with TestClient(create_agent_app(settings)) as agent:
        agent.post("/classify", json={"text": "warm up"})
        time.sleep(1.6)
        started = time.perf_counter()
        first = agent.post("/classify", json={"text": TICKETS[0]})
        elapsed = time.perf_counter() - started
        second = agent.post("/classify", json={"text": TICKETS[1]})
        assert first.status_code == second.status_code == 200
        assert elapsed < 1.0, elapsed  # far below the challenger's 1.5 s
        metrics = agent.get("/metrics").text
        assert 'callcenterai_shadow_predictions_total{model="tfidf",result="busy"} 1.0' in metrics
    # Closing the agent waited for the shadow call in flight.
    assert calls == ["warm up", TICKETS[0]]
