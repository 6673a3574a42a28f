"""The staging model's answers to live tickets (the shadow challenger).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_predictions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id",
            sa.String(32),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_kind", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("challenger_version", sa.String(32), nullable=False),
        sa.Column("production_version", sa.String(32), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("production_label", sa.String(128), nullable=False),
    )
    op.create_index(
        "ix_shadow_challenger", "shadow_predictions", ["model_name", "challenger_version"]
    )
    op.create_index("ix_shadow_ticket", "shadow_predictions", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_shadow_ticket", table_name="shadow_predictions")
    op.drop_index("ix_shadow_challenger", table_name="shadow_predictions")
    op.drop_table("shadow_predictions")
