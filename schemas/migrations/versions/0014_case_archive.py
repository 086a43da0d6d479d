"""case archive: one archived case file per closed application

Revision ID: 0014_case_archive
Revises: 0013_audit_event_occurred_at
Create Date: 2026-12-07

When an application closes (rejected, or paid and settled) its case file is archived once as
one self-contained file, whose SHA-256 is an audit event (``case.archived``). This table says
which applications are archived, where the file is and which event holds its hash, so that
archiving is idempotent and the retention knows what the archive keeps. Additive only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import schemas.types

revision = "0014_case_archive"
down_revision = "0013_audit_event_occurred_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_archive",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column(
            "closed_as",
            sa.String(length=20),
            nullable=False,
            comment="why it closed: rejected | paid_and_settled",
        ),
        sa.Column("closed_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column(
            "file_name",
            sa.String(length=200),
            nullable=False,
            comment="the file, inside the archive directory",
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("archived_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=True, comment="its case.archived event"),
        sa.Column(
            "personal_data_cleared_at",
            schemas.types.UTCDateTimeType(timezone=True),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_archive")),
        sa.UniqueConstraint("application_no", name=op.f("uq_case_archive_application_no")),
    )


def downgrade() -> None:
    op.drop_table("case_archive")
