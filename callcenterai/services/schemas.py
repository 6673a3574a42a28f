"""Request and response bodies of the services, with the examples OpenAPI shows.

The contract is for generated clients, so it says what the servers enforce. Request bodies are
strict (``explain: 0`` or ``"true"`` is not a boolean) and take no unknown fields. The
input limits are runtime settings, so a model only marks where one applies (``LIMIT``) and
:func:`declare_limits` writes the configured values into each app's schema; the server checks
them itself (``common.check_text``), with the statuses and messages a client can act on (413 for
too long, 422 for blank), which pydantic's own constraints would replace.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

EXAMPLE_TICKET = "Hello, my laptop screen stays black since this morning. Can you replace it?"

# What ``str.isspace`` counts as whitespace (what ``str.strip`` removes before check_text's
# emptiness test), spelled so that Python's ``re`` and ECMA-262, JSON Schema's regular expressions,
# read the class alike (their ``\s`` differ: \x1c-\x1f, \x85, \ufeff).
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITESPACE}]"  # unanchored: somewhere in the text, one character that is not
LIMIT = "x-callcenterai-limit"  # marks a field for declare_limits: "text" or "batch"


def text_schema(max_text_chars: int) -> dict[str, Any]:
    """check_text's rules for one ticket, as JSON Schema (lengths count code points in both)."""
    return {"minLength": 1, "maxLength": max_text_chars, "pattern": NOT_BLANK}


def declare_limits(openapi: Any, max_text_chars: int, max_batch_size: int) -> Any:
    """Replace, in place, each ``LIMIT`` mark of an OpenAPI document with the configured limit;
    returns the document. Idempotent: the marks are gone after the first call."""
    if isinstance(openapi, dict):
        kind = openapi.pop(LIMIT, None)
        if kind == "text":
            openapi.update(text_schema(max_text_chars))
        elif kind == "batch":
            openapi.update(minItems=1, maxItems=max_batch_size)
        for value in openapi.values():
            declare_limits(value, max_text_chars, max_batch_size)
    elif isinstance(openapi, list):
        for value in openapi:
            declare_limits(value, max_text_chars, max_batch_size)
    return openapi


TicketText = Annotated[str, Field(json_schema_extra={LIMIT: "text"})]
REQUEST = ConfigDict(extra="forbid", strict=True)


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        **REQUEST, json_schema_extra={"examples": [{"text": EXAMPLE_TICKET, "explain": True}]}
    )
    text: TicketText = Field(
        description="Raw ticket text; the shared normaliser is applied inside. Not blank, at "
        "most the service's limit (413 past it)."
    )
    explain: bool = Field(False, description="Return the terms behind the prediction (TF-IDF).")


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        **REQUEST,
        json_schema_extra={
            "examples": [{"texts": [EXAMPLE_TICKET, "I need admin rights to install Python"]}]
        },
    )
    texts: list[TicketText] = Field(
        description="Tickets, answered in the same order: at least one, at most the service's "
        "batch limit (413 past it).",
        json_schema_extra={LIMIT: "batch"},
    )


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
        **REQUEST,
        json_schema_extra={
            "examples": [
                {"text": EXAMPLE_AGENT_TICKET, "channel": "email"},
                {"text": "Mon écran reste noir depuis ce matin", "force_model": "transformer"},
            ]
        },
    )
    text: TicketText = Field(
        description="Raw ticket text; PII is scrubbed before anything else. Not blank, at most "
        "the agent's limit, before and after masking (413 past it)."
    )
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
# A review-queue cursor as tickets.store hands it out: the last ticket's uncertainty (a float's
# repr) and id. Anything else is refused (422) before the store is asked.
CURSOR_PATTERN = r"^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?~[0-9a-f]{32}$"


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
    model_config = ConfigDict(**REQUEST, json_schema_extra={"examples": [{"label": "Access"}]})
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


def _utc(moment: datetime) -> datetime:
    """The store records UTC, but SQLite gives it back without a zone, and a date-time without
    an offset is not RFC 3339 (what OpenAPI's ``date-time`` means): name the zone."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class StoredTicket(BaseModel):
    ticket_id: str
    created_at: Annotated[datetime, AfterValidator(_utc)] = Field(description="When, in UTC.")
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
    next_cursor: str | None = Field(
        None,
        description="Pass as cursor for the next page.",
        json_schema_extra={"pattern": CURSOR_PATTERN},
    )
    waiting: int = Field(description="Uncorrected tickets in the queue in all.")


class AgentHealth(BaseModel):
    """The agent's state. Without the API key (when one is set) only ``status`` and ``notice``."""

    status: str = Field(description="ok (both ready), degraded (one) or down (none)")
    notice: str | None = Field(
        None, description="What a user should know when a model is not ready (else null)."
    )
    downstream: dict[str, DownstreamHealth] | None = None
    pii_person_names: bool | None = None
    store: StoreHealth | None = None
    routing: dict[str, float | str | list[str]] | None = None

    @classmethod
    def public(cls, full: "AgentHealth") -> "AgentHealth":
        return cls(status=full.status, notice=full.notice)
