"""enterprise applicants and guarantors

Revision ID: 0006_enterprise_guarantors
Revises: 0005_payment_files
Create Date: 2026-11-24

An application may name a guarantor (a party of its own, whose bureau report is pulled with
query reason 03); the applicant profile carries a company's facts (years established,
registered capital, guarantees given) and the guarantor's bureau facts. Profiles stored before
this revision are persons' (``party_kind`` PERSON) with no guarantor.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import schemas.types

revision = "0006_enterprise_guarantors"
down_revision = "0005_payment_files"
branch_labels = None
depends_on = None

MONEY = schemas.types.ExactNumeric(precision=18, scale=2)
PROFILE_COLUMNS = (
    "party_kind",
    "years_established",
    "registered_capital",
    "guarantees_given",
    "guarantee_exposure_pct",
    "guarantor_id_number",
    "guarantor_score",
    "guarantor_overdue_months",
    "guarantor_public_records",
)


def upgrade() -> None:
    with op.batch_alter_table("application") as batch:
        batch.add_column(
            sa.Column(
                "guarantor_id_number",
                sa.String(length=18),
                nullable=True,
                comment="the party guaranteeing the loan (its bureau report is pulled for "
                "reason 03)",
            )
        )
    with op.batch_alter_table("applicant_profile") as batch:
        batch.add_column(
            sa.Column(
                "party_kind",
                sa.String(length=10),
                nullable=False,
                server_default="PERSON",
                comment="a company is read by the rules' enterprise section",
            )
        )
        batch.add_column(
            sa.Column(
                "years_established",
                sa.Integer(),
                nullable=True,
                comment="full years from establishment to the bureau report",
            )
        )
        batch.add_column(sa.Column("registered_capital", MONEY, nullable=True))
        batch.add_column(
            sa.Column(
                "guarantees_given",
                MONEY,
                nullable=True,
                comment="sum of the guarantees the company has given, in force",
            )
        )
        batch.add_column(
            sa.Column(
                "guarantee_exposure_pct",
                sa.Integer(),
                nullable=True,
                comment="guarantees given as a percentage of registered capital",
            )
        )
        batch.add_column(sa.Column("guarantor_id_number", sa.String(length=18), nullable=True))
        batch.add_column(sa.Column("guarantor_score", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "guarantor_overdue_months",
                sa.Integer(),
                nullable=True,
                comment="the guarantor's worst overdue level, latest month",
            )
        )
        batch.add_column(sa.Column("guarantor_public_records", sa.Integer(), nullable=True))
    with op.batch_alter_table("applicant_profile") as batch:
        batch.alter_column("party_kind", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("applicant_profile") as batch:
        for name in reversed(PROFILE_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("application") as batch:
        batch.drop_column("guarantor_id_number")
