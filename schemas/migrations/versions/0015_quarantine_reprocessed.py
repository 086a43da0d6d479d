"""quarantine reprocessed: a record stored after a mapping fix leaves the quarantine

Revision ID: 0015_quarantine_reprocessed
Revises: 0014_case_archive
Create Date: 2026-12-10

An operator reprocesses quarantined records with the current mapping (``loanhub quarantine
reprocess``). A record the fixed mapping takes is stored, and its quarantine row is kept (the
trail says what was refused, when and why) but stamped: when it left the quarantine, who
reprocessed it, the mapping version it was stored under. A row without the stamp is still
quarantined. Rows already stored are all still quarantined.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import schemas.types

revision = "0015_quarantine_reprocessed"
down_revision = "0014_case_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantined_record") as batch:
        batch.add_column(
            sa.Column(
                "reprocessed_at",
                schemas.types.UTCDateTimeType(timezone=True),
                nullable=True,
                comment="when a reprocess under a newer mapping stored the record: it left "
                "the quarantine then (None while it is still quarantined)",
            )
        )
        batch.add_column(sa.Column("reprocessed_by", sa.String(length=120), nullable=True))
        batch.add_column(
            sa.Column(
                "stored_mapping_version",
                sa.String(length=64),
                nullable=True,
                comment="the mapping version the record was stored under",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantined_record") as batch:
        batch.drop_column("stored_mapping_version")
        batch.drop_column("reprocessed_by")
        batch.drop_column("reprocessed_at")
