"""case file: what each call was made for, its attempt, and the score a decision was made on

Revision ID: 0016_case_file
Revises: 0015_quarantine_reprocessed
Create Date: 2026-12-08

An application's case file lists every call to a legacy system made for it, with its attempt
in the connector's retry loop: the call journal now keeps the application a call was made for
(``subject``, set by the flow around its calls) and the attempt. A decision keeps the score
its rule set gave the profile, so the factor-by-factor breakdown shown later can be checked
against what decided. Rows stored before have neither (NULL): nothing is guessed for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_case_file"
down_revision = "0015_quarantine_reprocessed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_call") as batch:
        batch.add_column(
            sa.Column(
                "subject",
                sa.String(32),
                nullable=True,
                comment="the application the call was made for",
            )
        )
        batch.add_column(
            sa.Column(
                "attempt",
                sa.Integer(),
                nullable=True,
                comment="its attempt in the connector's retry loop (1 first)",
            )
        )
    op.create_index("ix_source_call_subject_started_at", "source_call", ["subject", "started_at"])
    with op.batch_alter_table("decision") as batch:
        batch.add_column(
            sa.Column(
                "score",
                sa.Integer(),
                nullable=True,
                comment="the rule set's score of the profile it was decided on (none before 0013)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("score")
    op.drop_index("ix_source_call_subject_started_at", table_name="source_call")
    with op.batch_alter_table("source_call") as batch:
        batch.drop_column("attempt")
        batch.drop_column("subject")
