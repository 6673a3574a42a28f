"""The ticket store's tables (SQLAlchemy 2). Changes go through a migration (``migrations/``).

A ticket row holds the *scrubbed* text only: the agent masks personal data before a ticket is
recorded, so no raw text and no PII value ever reaches the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Ticket(Base):
    """One classified ticket and the answer it got."""

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    text: Mapped[str] = mapped_column(Text, doc="Scrubbed text (PII masked), never the raw one.")
    channel: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    language_confidence: Mapped[float] = mapped_column(Float)
    pii: Mapped[dict] = mapped_column(JSON, doc="Entities masked, by type (counts only).")
    label: Mapped[str] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict] = mapped_column(JSON, doc="The answering model's, by label.")
    model_kind: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(32))
    route_reason: Mapped[str] = mapped_column(String(32))
    explanation: Mapped[str] = mapped_column(Text, doc="The one-sentence reason of the route.")
    tfidf_label: Mapped[str | None] = mapped_column(String(128))
    tfidf_confidence: Mapped[float | None] = mapped_column(Float)
    transformer_label: Mapped[str | None] = mapped_column(String(128))
    transformer_confidence: Mapped[float | None] = mapped_column(Float)
    unknown_word_share: Mapped[float | None] = mapped_column(
        Float, doc="TF-IDF's share of words outside its vocabulary (drift; migration 0002)."
    )
    review_reason: Mapped[str | None] = mapped_column(
        String(64), doc="Why a human should look (comma-separated), or null."
    )
    uncertainty: Mapped[float] = mapped_column(Float, doc="1 - confidence: the review order.")

    correction: Mapped[Correction | None] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (Index("ix_tickets_review", "review_reason", "uncertainty", "id"),)


class Correction(Base):
    """The category a person gave a ticket (one per ticket; a later one replaces it)."""

    __tablename__ = "corrections"

    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(128))
    previous_label: Mapped[str | None] = mapped_column(
        String(128), doc="The correction this one replaced, if any."
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    ticket: Mapped[Ticket] = relationship(back_populates="correction")


class ShadowPrediction(Base):
    """What the staging model (the challenger) answered for a live ticket, off the response path,
    beside what production answered (migration 0003)."""

    __tablename__ = "shadow_predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_kind: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(128))
    challenger_version: Mapped[str] = mapped_column(String(32))
    production_version: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    production_label: Mapped[str] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_shadow_challenger", "model_name", "challenger_version"),
        Index("ix_shadow_ticket", "ticket_id"),
    )
