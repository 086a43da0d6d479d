"""payment re-instruction: a rejected tranche paid again under a new instruction

Revision ID: 0009_payment_reinstruction
Revises: 0006_enterprise_guarantors
Create Date: 2026-11-24

A tranche the gateway rejected for a real reason (AC01, AC04, AM04...) is paid again only when
an operator re-instructs it (``loanhub payments repay``). The gateway refuses a repeated
EndToEndId for 90 days, so the new instruction needs a new one, derived as deterministically
as the first: from the loan, the tranche and this counter (``-R<n>``). Existing tranches are
their first instruction (0).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_payment_reinstruction"
down_revision = "0006_enterprise_guarantors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disbursement") as batch:
        batch.add_column(
            sa.Column(
                "instruction",
                sa.Integer(),
                nullable=False,
                server_default="0",
                comment="0 the first; n the operator's n-th re-instruction after a rejection",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("disbursement") as batch:
        batch.drop_column("instruction")
