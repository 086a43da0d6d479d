"""work item evidence: where the hub filed an item's evidence, in a column of its own

Revision ID: 0019_work_item_evidence
Revises: 0018_audit
Create Date: 2026-12-07

Until now the guard appended ``[evidence: PATH]`` to the item's error text and the dashboard
parsed it back out; that text also carries a legacy system's own words (a fault, a screen's
reason), so a crafted fault could name any path. The path now has its own column, written by
the hub only. Existing rows are not back-filled from their error text (that is the very
parsing this column ends): an item stuck before the upgrade shows "no evidence filed" and
keeps its error text for the operator to read.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_work_item_evidence"
down_revision = "0018_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_item") as batch:
        batch.add_column(
            sa.Column(
                "evidence",
                sa.String(length=500),
                nullable=True,
                comment="where the hub filed this item's evidence (a bot's capture folder), as "
                "the hub itself recorded it; never read out of error text a legacy system can "
                "write",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("work_item") as batch:
        batch.drop_column("evidence")
