"""payment files: every MsgId a tranche was ever sent under

Revision ID: 0005_payment_files
Revises: 0004
Create Date: 2026-11-24

``disbursement.msg_id`` holds one file; a retry used to overwrite it and so forget the file
the gateway had in fact paid. Each tranche's files are now rows of their own, never deleted:
what settles a tranche in doubt and what reads a later duplicate refusal (DU01/DU05) right.
The MsgId already on a disbursement becomes its first file (SENT once the tranche left
PENDING, else ASSIGNED: the next run reads the gateway for it before sending anything new).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import schemas.types

revision = "0005_payment_files"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_file",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=False),
        sa.Column("msg_id", sa.String(length=35), nullable=False),
        sa.Column("state", sa.String(length=9), nullable=False),
        sa.Column(
            "gateway_status",
            sa.String(length=4),
            nullable=True,
            comment="the gateway's latest status of the tranche in it",
        ),
        sa.Column("gateway_reason", sa.String(length=8), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True, comment="what settled its state"),
        sa.Column("assigned_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("updated_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_file")),
        sa.UniqueConstraint("msg_id", name=op.f("uq_payment_file_msg_id")),
    )
    op.create_index(
        op.f("ix_payment_file_end_to_end_id"), "payment_file", ["end_to_end_id"], unique=False
    )
    op.execute(
        """
        INSERT INTO payment_file
            (end_to_end_id, msg_id, state, gateway_status, gateway_reason, detail,
             assigned_at, updated_at)
        SELECT end_to_end_id, msg_id,
               CASE WHEN status = 'PENDING' THEN 'ASSIGNED' ELSE 'SENT' END,
               CASE WHEN status IN ('ACCP', 'ACSC', 'RJCT') THEN status END,
               status_reason, 'from disbursement.msg_id (revision 0005)',
               requested_at, requested_at
        FROM disbursement WHERE msg_id IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_file_end_to_end_id"), table_name="payment_file")
    op.drop_table("payment_file")
