"""Request and response bodies of the model services, with the examples OpenAPI shows."""

from __future__ import annotations

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


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


class Health(BaseModel):
    status: str = Field(description="ok, loading or failed")
    ready: bool
    kind: str
    model: ModelRef | None = None
    uri: str
    error: str | None = None


class ErrorBody(BaseModel):
    detail: str
