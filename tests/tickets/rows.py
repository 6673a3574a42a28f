"""Ticket rows as the agent writes them, for the store and export tests."""

from __future__ import annotations

import uuid

from callcenterai.tickets.store import now

LABELS = ("Hardware", "Access", "Storage")


def ticket_row(
    confidence: float = 0.9,
    review: str | None = None,
    text: str = "my laptop [EMAIL] is broken",
    **extra,
) -> dict:
    probabilities = {label: (1 - confidence) / 2 for label in LABELS}
    probabilities[extra.get("label", "Hardware")] = confidence
    return {
        "id": uuid.uuid4().hex,
        "created_at": now(),
        "text": text,
        "channel": "email",
        "language": "en",
        "language_confidence": 0.98,
        "pii": {"EMAIL": 1},
        "label": "Hardware",
        "confidence": confidence,
        "probabilities": probabilities,
        "model_kind": "tfidf",
        "model_name": "callcenterai-tfidf",
        "model_version": "1",
        "route_reason": "confident",
        "explanation": "TF-IDF answered.",
        "tfidf_label": "Hardware",
        "tfidf_confidence": confidence,
        "transformer_label": None,
        "transformer_confidence": None,
        "unknown_word_share": None,
        "review_reason": review,
        "uncertainty": 1 - confidence,
        **extra,
    }
