"""Request and response bodies of the model services, with the examples OpenAPI shows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_TICKET = "Hello, my laptop screen stays black since this morning. Can you replace it?"


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": EXAMPLE_TICKET, "explain": True}]},
    )
    text: str = Field(description="Raw ticket text; the shared normaliser is applied inside.")
    explain: bool = Field(False, description="Return the terms behind the prediction (TF-IDF).")


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"texts": [EXAMPLE_TICKET, "I need admin rights to install Python"]}]
        },
    )
    texts: list[str] = Field(description="Tickets, answered in the same order.")


class ModelRef(BaseModel):
    name: str
    version: str


class Term(BaseModel):
    term: str
    weight: float


class Prediction(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "Hardware",
                    "confidence": 0.91,
                    "probabilities": {"Hardware": 0.91, "Access": 0.03, "...": 0.06},
                    "model": {"name": "callcenterai-tfidf", "version": "3"},
                    "explanation": [{"term": "laptop", "weight": 0.21}],
                }
            ]
        }
    )
    label: str
    confidence: float
    probabilities: dict[str, float]
    model: ModelRef
    explanation: list[Term] | None = None
    unknown_word_share: float | None = Field(
        None, description="Share of the ticket's words the model never saw (TF-IDF; drift)."
    )


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


class Health(BaseModel):
    status: str = Field(
        description="ok, loading, failed, or waiting (no version holds the followed alias yet)"
    )
    ready: bool
    kind: str
    model: ModelRef | None = Field(None, description="The model in use, with its version.")
    uri: str
    error: str | None = Field(None, description="Why no model is served.")
    follows_alias: bool = Field(
        False, description="Whether the service follows a registry alias (polling)."
    )
    reload_error: str | None = Field(
        None,
        description="The alias's newest version failed to load; the model above still serves.",
    )
    challenger: ModelRef | None = Field(
        None, description="The staging version answering /predict/challenger, if one differs."
    )


class ErrorBody(BaseModel):
    detail: str


# The agent -------------------------------------------------------------------------------------

EXAMPLE_AGENT_TICKET = (
    "Hi, I'm locked out of my account since this morning. Call me at +33 6 12 34 56 78 or "
    "write to jean.dupont@example.fr"
)


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": EXAMPLE_AGENT_TICKET, "channel": "email"},
                {"text": "Mon écran reste noir depuis ce matin", "force_model": "transformer"},
            ]
        },
    )
    text: str = Field(description="Raw ticket text; PII is scrubbed before anything else.")
    channel: Literal["email", "chat", "phone"] | None = Field(
        None, description="Where the ticket came from (recorded, not used for routing)."
    )
    force_model: Literal["tfidf", "transformer"] | None = Field(
        None, description="Bypass the routing policy and ask this model."
    )


class LanguageInfo(BaseModel):
    code: str = Field(description="ISO 639-1 code, 'und' when undetermined.")
    confidence: float


class RuleFired(BaseModel):
    name: str
    value: float | str
    threshold: float | str
    fired: bool


class Explanation(BaseModel):
    reason: str = Field(description="One sentence: why this model answered.")
    forced: bool
    fallback: bool = Field(description="True when a failed service was replaced by the other.")
    fallback_reason: str | None = None
    rules: list[RuleFired] = Field(description="Rules evaluated, their values and thresholds.")
    models_called: list[str]
    chars: int
    words: int
    sentences: int
    complexity: float
    tfidf_confidence: float | None = None
    transformer_confidence: float | None = None
    tfidf_label: str | None = None
    transformer_label: str | None = None
    top_terms: list[Term] | None = Field(None, description="TF-IDF's terms, when it answered.")


TICKET_ID_PATTERN = r"^[0-9a-f]{32}$"


class Alternative(BaseModel):
    label: str
    probability: float


class ClassifyResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticket_id": "3f2b9c0e8d6a4b1f9e7c5a3d1b0f2e4c",
                    "label": "Access",
                    "confidence": 0.93,
                    "alternatives": [
                        {"label": "Access", "probability": 0.93},
                        {"label": "Administrative rights", "probability": 0.03},
                    ],
                    "model_used": "tfidf",
                    "model": {"name": "callcenterai-tfidf", "version": "3"},
                    "language": {"code": "en", "confidence": 0.97},
                    "pii": {"PHONE": 1, "EMAIL": 1},
                    "scrubbed_text": "Hi, I'm locked out of my account since this morning. "
                    "Call me at [PHONE] or write to [EMAIL]",
                    "channel": "email",
                    "explanation": {
                        "reason": "TF-IDF answered: English ticket and TF-IDF was confident "
                        "(0.93 >= 0.75).",
                        "forced": False,
                        "fallback": False,
                        "rules": [
                            {
                                "name": "tfidf_confidence",
                                "value": 0.93,
                                "threshold": 0.75,
                                "fired": False,
                            }
                        ],
                        "models_called": ["tfidf"],
                        "chars": 101,
                        "words": 18,
                        "sentences": 2,
                        "complexity": 0.464,
                        "tfidf_confidence": 0.93,
                        "top_terms": [{"term": "locked", "weight": 0.31}],
                    },
                }
            ]
        }
    )
    ticket_id: str | None = Field(
        None,
        description="The ticket's id in the store, for POST /tickets/{ticket_id}/feedback "
        "(null when the store is switched off).",
    )
    label: str
    confidence: float
    alternatives: list[Alternative] = Field(
        description="The answering model's most probable categories, best first."
    )
    model_used: str = Field(description="tfidf or transformer")
    model: ModelRef
    language: LanguageInfo
    pii: dict[str, int] = Field(description="Entities scrubbed, by type; never the values.")
    scrubbed_text: str
    channel: str | None = None
    explanation: Explanation


class DownstreamHealth(BaseModel):
    url: str
    status: str = Field(description="ok, loading, failed or down")
    ready: bool
    breaker: str = Field(description="closed, open or half_open")
    model: ModelRef | None = None


class StoreHealth(BaseModel):
    status: str = Field(description="ok, down (tickets are answered but not stored) or off")
    backlog: int = Field(0, description="Tickets waiting to be written.")
    error: str | None = None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"label": "Access"}]})
    label: str = Field(
        min_length=1, max_length=128, description="The correct category (the model's label set)."
    )


class FeedbackResponse(BaseModel):
    ticket_id: str
    label: str = Field(description="The correct category, as recorded.")
    predicted: str = Field(description="What the agent had answered.")
    model_was_right: bool
    status: Literal["recorded", "updated", "unchanged"] = Field(
        description="recorded: first correction; updated: it replaced an earlier one "
        "(previous); unchanged: the same correction again (nothing written)."
    )
    previous: str | None = None


class StoredTicket(BaseModel):
    ticket_id: str
    created_at: datetime
    text: str = Field(description="The scrubbed text (personal data masked).")
    channel: str | None = None
    language: LanguageInfo
    label: str
    confidence: float
    alternatives: list[Alternative]
    model_used: str
    model: ModelRef
    reason: str = Field(description="Why this model answered.")
    review_reasons: list[str] = Field(
        description="Why a person should check it: low_confidence, models_disagree, "
        "language_unplaced (empty: none)."
    )
    tfidf_label: str | None = None
    transformer_label: str | None = None
    correction: str | None = Field(None, description="The category a person gave it, if any.")


class ReviewPage(BaseModel):
    tickets: list[StoredTicket] = Field(description="Most uncertain first.")
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page.")
    waiting: int = Field(description="Uncorrected tickets in the queue in all.")


class AgentHealth(BaseModel):
    status: str = Field(description="ok (both ready), degraded (one) or down (none)")
    notice: str | None = Field(
        None, description="What a user should know when a model is not ready (else null)."
    )
    downstream: dict[str, DownstreamHealth]
    pii_person_names: bool
    store: StoreHealth
    routing: dict[str, float | str | list[str]]
