"""The three services against their own OpenAPI contract, with Schemathesis (issue 15).

Generated clients only know what ``/openapi.json`` says, so the contract must declare what the
servers enforce (lengths, item counts, strict types, every status a route can answer) and the
servers must accept everything it allows. Schemathesis generates valid and invalid requests from
the contract (its examples, coverage and fuzzing phases) and runs all its checks on every answer.
The seed is fixed and the examples per operation bounded, so that a run is repeatable in CI and
takes seconds per service.

Each service runs in process over ASGI with a real model; the agent calls the two model services
as real processes (``model_services``), as in production, and is tested with its API key set.
A failure means the contract and the server disagree: fix the one that is wrong, never the
checks. The plain tests at the end pin what the contract relies on.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from fastapi import HTTPException
from pydantic import ValidationError

from callcenterai.config import Settings
from callcenterai.services.agent_service import create_agent_app
from callcenterai.services.common import check_text
from callcenterai.services.model_service import create_model_app
from callcenterai.services.schemas import (
    LIMIT,
    NOT_BLANK,
    BatchRequest,
    ClassifyRequest,
    FeedbackRequest,
    PredictRequest,
    StoredTicket,
)

SEED = 15
MAX_EXAMPLES = 12  # fuzzed requests per operation; the coverage phase adds its boundary cases
API_KEY = "contract-test-key"
# Schemathesis's default statuses for a rejected request, and 413 (Content Too Large): the services
# refuse a text or a batch over the configured limits with it, and each operation declares it.
REJECTED = "400 401 403 404 405 406 409 413 415 422 428 429 5xx".split()


def contract_config(**extra) -> schemathesis.Config:
    """Every check on, fixed seed, bounded examples, no example database (nothing replayed from
    earlier runs, nothing written to the checkout)."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {
                "enabled": True,
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
            **extra,
        }
    )


@pytest.fixture
def _node_id_for_schemathesis(request):
    """Schemathesis 4.32.5's ``from_fixture`` reads ``node._nodeid``, which pytest 9.2 no longer
    has (it keeps the id elsewhere); give it the test's id."""
    request.node._nodeid = request.node.nodeid


def model_schema(kind: str, model_dir, settings: Settings):
    app = create_model_app(kind, settings, model_uri=str(model_dir))
    # Loading the schema starts the app's lifespan (Schemathesis ends it with the test), and so
    # the model's loading: the contract is that of a service with its model.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=contract_config())
    state = app.state.model_state
    assert state.loaded.wait(60) and state.model is not None, state.error
    return schema


@pytest.fixture
def tfidf_schema(_node_id_for_schemathesis, tfidf_dir, service_settings):
    return model_schema("tfidf", tfidf_dir, service_settings)


@pytest.fixture
def transformer_schema(_node_id_for_schemathesis, tiny_transformer_dir, service_settings):
    return model_schema("transformer", tiny_transformer_dir, service_settings)


@pytest.fixture
def agent_schema(_node_id_for_schemathesis, model_services):
    settings = Settings(
        tfidf_url=model_services["tfidf"],
        transformer_url=model_services["transformer"],
        max_text_chars=2000,
        api_key=API_KEY,
        api_docs=True,  # with a key, the schema is not served unless asked for
    )
    app = create_agent_app(settings)
    config = contract_config(auth={"openapi": {"APIKeyHeader": {"api_key": API_KEY}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


tfidf = schemathesis.pytest.from_fixture("tfidf_schema")
transformer = schemathesis.pytest.from_fixture("transformer_schema")
agent = schemathesis.pytest.from_fixture("agent_schema")


@tfidf.parametrize()
def test_tfidf_service_keeps_its_contract(case):
    case.call_and_validate()


@transformer.parametrize()
def test_transformer_service_keeps_its_contract(case):
    case.call_and_validate()


@agent.parametrize()
@pytest.mark.slow  # starts both model services
def test_agent_keeps_its_contract(case):
    case.call_and_validate()


# What the contract relies on ------------------------------------------------------------------


def test_not_blank_is_what_check_text_calls_not_empty():
    """The pattern's class is exactly ``str.isspace``: a text matches it iff check_text does not
    refuse it as empty (the ECMA-262 spelling must not drift from Python's whitespace)."""
    not_blank = re.compile(NOT_BLANK)
    every_character = "".join(map(chr, range(sys.maxunicode + 1)))
    blank = set(not_blank.sub("", every_character))  # what the class does not match
    assert blank == {char for char in every_character if char.isspace()}
    for text in ("\x1c\u3000 \t", "\ufeff", " x "):
        if not_blank.search(text) is None:
            with pytest.raises(HTTPException, match="is empty"):
                check_text(text, Settings())
        else:
            check_text(text, Settings())


def test_each_app_declares_its_configured_limits():
    settings = Settings(
        max_text_chars=123, max_batch_size=7, store_enabled=False, pii_person_names=False
    )
    model = create_model_app("tfidf", settings, model_uri="unused").openapi()
    components = model["components"]["schemas"]
    assert components["PredictRequest"]["properties"]["text"]["maxLength"] == 123
    texts = components["BatchRequest"]["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"], texts["items"]["maxLength"]) == (1, 7, 123)
    agent_app = create_agent_app(settings)
    text = agent_app.openapi()["components"]["schemas"]["ClassifyRequest"]["properties"]["text"]
    assert (text["minLength"], text["maxLength"], text["pattern"]) == (1, 123, NOT_BLANK)
    assert agent_app.openapi() is agent_app.openapi()  # built once
    assert LIMIT not in json.dumps(model) + json.dumps(agent_app.openapi())


@pytest.mark.parametrize(
    "model,body",
    [
        (PredictRequest, {"text": "hi", "explain": 0}),
        (PredictRequest, {"text": "hi", "explain": "true"}),
        (PredictRequest, {"text": 42}),
        (BatchRequest, {"texts": "hi"}),
        (ClassifyRequest, {"text": "hi", "extra": 1}),
        (FeedbackRequest, {"label": 1}),
    ],
)
def test_request_bodies_are_strict(model, body):
    """What the schema says is what is accepted: no coercion of 0 or "true" to a boolean."""
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(body))


def test_a_stored_ticket_says_its_time_is_utc():
    """SQLite returns the UTC time without a zone; the answer must still be RFC 3339."""
    ticket = {
        "ticket_id": "0" * 32,
        "text": "my laptop is broken",
        "language": {"code": "en", "confidence": 0.9},
        "label": "Hardware",
        "confidence": 0.9,
        "alternatives": [],
        "model_used": "tfidf",
        "model": {"name": "callcenterai-tfidf", "version": "1"},
        "reason": "TF-IDF answered.",
        "review_reasons": [],
    }
    naive = StoredTicket(**ticket, created_at=datetime(2026, 1, 2, 3, 4, 5))
    stamp = datetime.fromisoformat(naive.model_dump(mode="json")["created_at"])
    assert stamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    paris = timezone(timedelta(hours=1))
    aware = StoredTicket(**ticket, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=paris))
    assert aware.created_at.utcoffset() == timedelta(hours=1)  # a zone given is kept
