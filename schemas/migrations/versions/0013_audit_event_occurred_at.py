"""audit events found by time

Revision ID: 0013_audit_event_occurred_at
Revises: 0012_decision_rounds
Create Date: 2026-12-07

The dashboard's queue lengths over time are replayed from the work-item transitions of the
audit chain in the period shown (``loanhub.dashboard.trends.queue_levels``), on every refresh
of the Queues page; without an index on ``occurred_at`` each of those reads the whole chain.
Additive: an index, nothing else.
"""

from __future__ import annotations

from alembic import op

revision = "0013_audit_event_occurred_at"
down_revision = "0012_decision_rounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_audit_event_occurred_at"), "audit_event", ["occurred_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_event_occurred_at"), table_name="audit_event")
