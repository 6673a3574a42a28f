"""The learning loop's API over real model services: every answer stored (scrubbed text only),
its id returned, corrections recorded and validated, the review queue paged most uncertain
first, the API key enforced, and a ticket store that is down never failing a ticket."""

from __future__ import annotations

import logging
import sqlite3
import uuid

import pytest
from fastapi.testclient import TestClient

from callcenterai.config import RoutingSettings, Settings
from callcenterai.services.agent_service import create_agent_app

pytestmark = pytest.mark.slow

EMAIL, PHONE, NAME = "amelie.durand@example.org", "+33 6 98 76 54 32", "John Smith"
IBAN = "FR76 3000 6000 0112 3456 7890 189"
PII_TICKETS = [
    f"Hello, I am {NAME}. My laptop screen is broken, call {PHONE}",
    f"Bonjour, mon écran est cassé. Appelez-moi au {PHONE}",
    f"Hello, please reset my password, my address is {EMAIL}",
    f"مرحبا، لا أستطيع الدخول إلى حسابي، بريدي {EMAIL} ورقمي {PHONE}",
    f"Refund the laptop to {IBAN}, thanks",
]


def agent_for(urls: dict, tmp_path, **overrides) -> TestClient:
    settings = Settings(
        tfidf_url=urls["tfidf"],
        transformer_url=urls["transformer"],
        max_text_chars=2000,
        store_url=f"sqlite:///{tmp_path / 'tickets.db'}",
        **overrides,
    )
    return TestClient(create_agent_app(settings))


@pytest.fixture
def agent(model_services, tmp_path):
    with agent_for(model_services, tmp_path) as client:
        yield client


def classify(client, text: str, **extra) -> dict:
    response = client.post("/classify", json={"text": text, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_answer_has_an_id_and_alternatives_and_is_stored(agent):
    body = classify(agent, "My laptop screen is broken since this morning", channel="chat")
    ticket_id = body["ticket_id"]
    assert len(ticket_id) == 32
    alternatives = body["alternatives"]
    assert alternatives[0]["label"] == body["label"] and len(alternatives) == 3
    assert [a["probability"] for a in alternatives] == sorted(
        (a["probability"] for a in alternatives), reverse=True
    )
    stored = agent.get(f"/tickets/{ticket_id}").json()
    assert stored["text"] == body["scrubbed_text"] and stored["channel"] == "chat"
    assert stored["label"] == body["label"] and stored["model_used"] == body["model_used"]
    assert stored["reason"] == body["explanation"]["reason"] and stored["correction"] is None
    assert agent.get("/health").json()["store"] == {"status": "ok", "backlog": 0, "error": None}


def test_feedback_contract(agent):
    body = classify(agent, "I need access to the shared drive of the finance team")
    ticket_id, predicted = body["ticket_id"], body["label"]
    other = next(a["label"] for a in body["alternatives"] if a["label"] != predicted)
    url = f"/tickets/{ticket_id}/feedback"

    first = agent.post(url, json={"label": other})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "ticket_id": ticket_id,
        "label": other,
        "predicted": predicted,
        "model_was_right": False,
        "status": "recorded",
        "previous": None,
    }
    replay = agent.post(url, json={"label": other}).json()  # a client retrying: nothing changes
    assert replay["status"] == "unchanged"
    confirm = agent.post(url, json={"label": predicted}).json()
    assert (confirm["status"], confirm["previous"], confirm["model_was_right"]) == (
        "updated",
        other,
        True,
    )
    assert agent.get(f"/tickets/{ticket_id}").json()["correction"] == predicted
    metrics = agent.get("/metrics").text
    assert 'callcenterai_feedback_total{result="recorded",verdict="corrected"} 1.0' in metrics
    assert 'callcenterai_feedback_total{result="unchanged",verdict="corrected"} 1.0' in metrics


@pytest.mark.parametrize(
    "path, payload, status, message",
    [
        ("/tickets/{unknown}/feedback", {"label": "Hardware"}, 404, "no ticket"),
        ("/tickets/{id}/feedback", {"label": "Printers"}, 422, "unknown category 'Printers'"),
        ("/tickets/{id}/feedback", {"label": ""}, 422, "label"),
        ("/tickets/{id}/feedback", {"label": "Hardware", "x": 1}, 422, "x"),
        ("/tickets/{id}/feedback", {}, 422, "label"),
        ("/tickets/not-an-id/feedback", {"label": "Hardware"}, 422, "ticket_id"),
    ],
)
def test_bad_feedback_gets_a_clear_status(agent, path, payload, status, message):
    ticket_id = classify(agent, "The printer on floor 2 is jammed again")["ticket_id"]
    url = path.format(id=ticket_id, unknown=uuid.uuid4().hex)
    response = agent.post(url, json=payload)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert agent.get(f"/tickets/{ticket_id}").json()["correction"] is None


def test_review_queue_pages_most_uncertain_first(model_services, tmp_path):
    # Every answer below 0.999 confidence needs review here, so the order is what is tested.
    with agent_for(model_services, tmp_path, review_min_confidence=0.999) as client:
        texts = [
            "My laptop screen is broken",
            "Please give me admin rights on my workstation",
            "Need a new keyboard and mouse, order please",
            "Salary slip of last month is missing",
            "hello",
        ]
        answers = {classify(client, t)["ticket_id"]: t for t in texts}
        confidences, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/tickets/review", params=params).json()
            pages += 1
            assert page["waiting"] == len(answers) and len(page["tickets"]) <= 2
            for ticket in page["tickets"]:
                assert "low_confidence" in ticket["review_reasons"]
                confidences.append(ticket["confidence"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and confidences == sorted(confidences)
        assert len(confidences) == len(answers)

        first = client.get("/tickets/review", params={"limit": 1}).json()["tickets"][0]
        client.post(f"/tickets/{first['ticket_id']}/feedback", json={"label": first["label"]})
        after = client.get("/tickets/review").json()
        assert after["waiting"] == len(answers) - 1
        assert first["ticket_id"] not in {t["ticket_id"] for t in after["tickets"]}
        bad = client.get("/tickets/review", params={"cursor": "nonsense"})
        assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
        assert client.get("/tickets/review", params={"limit": 0}).status_code == 422


def test_models_disagreeing_and_unplaced_languages_need_review(model_services, tmp_path):
    both = RoutingSettings(tfidf_min_confidence=1.0)  # always consult the transformer
    with agent_for(model_services, tmp_path, route=both, review_min_confidence=0.0) as client:
        body = classify(client, "zzz qqq xxyy 12")
        stored = client.get(f"/tickets/{body['ticket_id']}").json()
        assert "language_unplaced" in stored["review_reasons"]
        disagree = stored["tfidf_label"] != stored["transformer_label"]
        assert ("models_disagree" in stored["review_reasons"]) == disagree


def test_the_ticket_routes_need_the_api_key(model_services, tmp_path):
    with agent_for(model_services, tmp_path, api_key="k3y") as client:
        headers = {"X-API-Key": "k3y"}
        ticket_id = client.post(
            "/classify", json={"text": "My mouse is broken"}, headers=headers
        ).json()["ticket_id"]
        for method, url, body in (
            ("post", f"/tickets/{ticket_id}/feedback", {"label": "Hardware"}),
            ("get", "/tickets/review", None),
            ("get", f"/tickets/{ticket_id}", None),
        ):
            kwargs = {"json": body} if body else {}
            assert getattr(client, method)(url, **kwargs).status_code == 401
            allowed = getattr(client, method)(url, headers=headers, **kwargs)
            assert allowed.status_code == 200, allowed.text


def test_no_pii_in_the_store_logs_or_metrics(model_services, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with agent_for(model_services, tmp_path) as client:
        ids = [classify(client, text, channel="email")["ticket_id"] for text in PII_TICKETS]
        client.post(f"/tickets/{ids[0]}/feedback", json={"label": "Hardware"})
        client.get("/tickets/review")
        metrics = client.get("/metrics").text
    connection = sqlite3.connect(tmp_path / "tickets.db")
    dump = "\n".join(connection.iterdump())
    connection.close()
    assert all(ticket_id in dump for ticket_id in ids)
    assert "[EMAIL]" in dump and "[PHONE]" in dump and "[IBAN]" in dump
    assert "[PERSON]" in dump
    secrets = (EMAIL, PHONE, NAME, IBAN, "amelie", "98 76", "3456 7890")
    for secret in secrets:
        assert secret not in dump, secret
        assert secret not in caplog.text, secret
        assert secret not in metrics, secret


def test_a_store_that_is_down_never_fails_a_ticket(model_services, tmp_path):
    down = "postgresql+psycopg://agent@127.0.0.1:9/tickets"  # nothing listens on port 9
    settings = Settings(
        tfidf_url=model_services["tfidf"],
        transformer_url=model_services["transformer"],
        store_url=down,
    )
    with TestClient(create_agent_app(settings)) as client:
        for _ in range(3):
            body = classify(client, "My laptop screen is broken")
            assert body["label"] and body["ticket_id"]
        health = client.get("/health").json()
        assert health["store"]["status"] == "down"
        assert "could not" in health["store"]["error"]
        response = client.post(f"/tickets/{body['ticket_id']}/feedback", json={"label": "Access"})
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert "ticket store" in response.json()["detail"]
        assert client.get("/tickets/review").status_code == 503
        metrics = client.get("/metrics").text
        assert 'callcenterai_store_writes_total{outcome="failed"} 3.0' in metrics
        assert "callcenterai_store_up 0.0" in metrics


def test_the_store_can_be_switched_off(model_services, tmp_path):
    with agent_for(model_services, tmp_path, store_enabled=False) as client:
        body = classify(client, "My laptop screen is broken")
        assert body["ticket_id"] is None
        assert client.get("/health").json()["store"]["status"] == "off"
        response = client.get("/tickets/review")
        assert response.status_code == 503 and "switched off" in response.json()["detail"]
