"""decision rounds: a returned application is decided again, once per round

Revision ID: 0012_decision_rounds
Revises: 0009_payment_reinstruction
Create Date: 2026-12-06

A return for more documents (退回补件) re-opens the application at the next intake; before
this revision the store held one decision per application, so the re-opened one could never
be decided again. The application now counts its decision round (one more at each re-opening),
each profile names the round it was built for, and a decision is unique per application and
round. Every row already stored is round 1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_decision_rounds"
down_revision = "0009_payment_reinstruction"
branch_labels = None
depends_on = None

COMMENTS = {
    "application": "its decision round: one more each time a return re-opens it",
    "applicant_profile": "the decision round it was built for",
    "decision": "the decision round: 1, and one more after each return",
}


def upgrade() -> None:
    for table, comment in COMMENTS.items():
        # existing rows are round 1; the default is only there to fill them
        op.add_column(
            table,
            sa.Column("round", sa.Integer(), nullable=False, server_default="1", comment=comment),
        )
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "round", server_default=None, existing_type=sa.Integer(), existing_comment=comment
            )
    op.drop_index("uq_decision_application_no", table_name="decision")
    op.create_index(
        "uq_decision_application_no_round", "decision", ["application_no", "round"], unique=True
    )


def downgrade() -> None:
    """Back to one decision per application: the later rounds' decisions are dropped (the
    first one is what the older code knows)."""
    op.execute("DELETE FROM decision WHERE round > 1")
    op.drop_index("uq_decision_application_no_round", table_name="decision")
    op.create_index("uq_decision_application_no", "decision", ["application_no"], unique=True)
    for table in COMMENTS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("round")
