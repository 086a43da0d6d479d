"""initial canonical model

Revision ID: 0001
Revises:
Create Date: 2026-11-24

The canonical model as of the foundation, plus (PostgreSQL only) a trigger that makes the
audit chain append-only: UPDATE and DELETE on audit_event raise. A superuser can still
disable it; that is what `loanhub audit verify` is for.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import schemas.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("party_id_number", sa.String(length=18), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column(
            "requested_amount", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("submitted_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application")),
        sa.UniqueConstraint("application_no", name=op.f("uq_application_application_no")),
    )
    op.create_index(
        op.f("ix_application_party_id_number"), "application", ["party_id_number"], unique=False
    )
    op.create_table(
        "audit_event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("occurred_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
    )
    op.create_table(
        "consent",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("consent_ref", sa.String(length=40), nullable=False),
        sa.Column("party_id_number", sa.String(length=18), nullable=False),
        sa.Column("scope", sa.String(length=15), nullable=False),
        sa.Column("reason", sa.String(length=2), nullable=False),
        sa.Column("granted_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("expires_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("evidence_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        sa.UniqueConstraint("consent_ref", name=op.f("uq_consent_consent_ref")),
    )
    op.create_index(
        op.f("ix_consent_party_id_number_scope"),
        "consent",
        ["party_id_number", "scope"],
        unique=False,
    )
    op.create_table(
        "core_account",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("account_no", sa.String(length=20), nullable=False),
        sa.Column("customer_no", sa.String(length=12), nullable=False),
        sa.Column("account_type", sa.String(length=7), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_account")),
        sa.UniqueConstraint("account_no", name=op.f("uq_core_account_account_no")),
    )
    op.create_index(
        op.f("ix_core_account_customer_no"), "core_account", ["customer_no"], unique=False
    )
    op.create_table(
        "core_customer",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_no", sa.String(length=12), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=False),
        sa.Column("customer_since", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_customer")),
        sa.UniqueConstraint("customer_no", name=op.f("uq_core_customer_customer_no")),
    )
    op.create_index(
        op.f("ix_core_customer_id_number"), "core_customer", ["id_number"], unique=False
    )
    op.create_table(
        "core_monthly_summary",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("account_no", sa.String(length=20), nullable=False),
        sa.Column("month", sa.Date(), nullable=False, comment="first day of the month"),
        sa.Column("inflow", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False),
        sa.Column("outflow", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False),
        sa.Column(
            "average_balance", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_monthly_summary")),
        sa.UniqueConstraint(
            "account_no", "month", name=op.f("uq_core_monthly_summary_account_no_month")
        ),
    )
    op.create_table(
        "credit_report",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("report_no", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=10), nullable=False),
        sa.Column("subject_id_number", sa.String(length=18), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=True),
        sa.Column("query_reason", sa.String(length=2), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column(
            "registered_capital", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True
        ),
        sa.Column("established_on", sa.Date(), nullable=True),
        sa.Column("thin_file", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_report")),
        sa.UniqueConstraint("report_no", name=op.f("uq_credit_report_report_no")),
    )
    op.create_index(
        op.f("ix_credit_report_application_no"), "credit_report", ["application_no"], unique=False
    )
    op.create_index(
        op.f("ix_credit_report_subject_id_number_query_reason"),
        "credit_report",
        ["subject_id_number", "query_reason"],
        unique=False,
    )
    op.create_table(
        "decision",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=7), nullable=False),
        sa.Column(
            "approved_amount", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True
        ),
        sa.Column("term_months", sa.Integer(), nullable=True),
        sa.Column("annual_rate", schemas.types.ExactNumeric(precision=9, scale=6), nullable=True),
        sa.Column("conditions", sa.String(length=500), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("los_reference", sa.String(length=40), nullable=True, comment="审批流水号"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision")),
        sa.UniqueConstraint("los_reference", name=op.f("uq_decision_los_reference")),
    )
    op.create_index(
        op.f("ix_decision_application_no"), "decision", ["application_no"], unique=False
    )
    op.create_table(
        "disbursement",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("loan_account", sa.String(length=20), nullable=False),
        sa.Column("tranche", sa.Integer(), nullable=False),
        sa.Column("amount", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("creditor_account", sa.String(length=34), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=False),
        sa.Column("msg_id", sa.String(length=35), nullable=True),
        sa.Column("status", sa.String(length=7), nullable=False),
        sa.Column("status_reason", sa.String(length=8), nullable=True),
        sa.Column("requested_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("settled_at", schemas.types.UTCDateTimeType(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursement")),
        sa.UniqueConstraint("end_to_end_id", name=op.f("uq_disbursement_end_to_end_id")),
        sa.UniqueConstraint(
            "loan_account", "tranche", name=op.f("uq_disbursement_loan_account_tranche")
        ),
    )
    op.create_table(
        "early_warning",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "warning_key",
            sa.String(length=80),
            nullable=False,
            comment="rule + loan + period: raised once",
        ),
        sa.Column("loan_account", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=5), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("raised_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("notified_at", schemas.types.UTCDateTimeType(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_warning")),
        sa.UniqueConstraint("warning_key", name=op.f("uq_early_warning_warning_key")),
    )
    op.create_index(
        op.f("ix_early_warning_loan_account"), "early_warning", ["loan_account"], unique=False
    )
    op.create_table(
        "file_receipt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=True),
        sa.Column(
            "kept_at", sa.String(length=500), nullable=True, comment="where the file is kept"
        ),
        sa.Column("received_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("updated_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_receipt")),
        sa.UniqueConstraint(
            "source_system",
            "name",
            "sha256",
            name=op.f("uq_file_receipt_source_system_name_sha256"),
        ),
    )
    op.create_index(
        op.f("ix_file_receipt_source_system_name"),
        "file_receipt",
        ["source_system", "name"],
        unique=False,
    )
    op.create_table(
        "loan",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("loan_account", sa.String(length=20), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("customer_no", sa.String(length=12), nullable=False),
        sa.Column("principal", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False),
        sa.Column("annual_rate", schemas.types.ExactNumeric(precision=9, scale=6), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=11), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan")),
        sa.UniqueConstraint("loan_account", name=op.f("uq_loan_loan_account")),
    )
    op.create_index(op.f("ix_loan_application_no"), "loan", ["application_no"], unique=False)
    op.create_table(
        "party",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column(
            "id_number",
            sa.String(length=18),
            nullable=False,
            comment="resident ID or USCC, validated",
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("mobile", sa.String(length=11), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column(
            "registered_capital", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True
        ),
        sa.Column("established_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party")),
        sa.UniqueConstraint("id_number", name=op.f("uq_party_id_number")),
    )
    op.create_table(
        "quarantined_record",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column(
            "source_ref",
            sa.String(length=255),
            nullable=False,
            comment="file name, message id or page",
        ),
        sa.Column(
            "record_ref", sa.String(length=80), nullable=False, comment="line, record number or key"
        ),
        sa.Column("field_path", sa.String(length=200), nullable=True),
        sa.Column("value_masked", sa.String(length=500), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("raw_masked", sa.Text(), nullable=True),
        sa.Column("mapping_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_record")),
    )
    op.create_index(
        op.f("ix_quarantined_record_source_system_source_ref"),
        "quarantined_record",
        ["source_system", "source_ref"],
        unique=False,
    )
    op.create_table(
        "repayment_installment",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("loan_account", sa.String(length=20), nullable=False),
        sa.Column("installment_no", sa.Integer(), nullable=False),
        sa.Column("customer_no", sa.String(length=12), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column(
            "principal_due", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "interest_due", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "principal_paid", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "interest_paid", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column("paid_date", sa.Date(), nullable=True),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.String(length=1),
            nullable=False,
            comment="the core's status code, as extracted",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayment_installment")),
        sa.UniqueConstraint(
            "loan_account",
            "installment_no",
            name=op.f("uq_repayment_installment_loan_account_installment_no"),
        ),
    )
    op.create_index(
        op.f("ix_repayment_installment_due_date"),
        "repayment_installment",
        ["due_date"],
        unique=False,
    )
    op.create_table(
        "social_security_month",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column(
            "month", sa.Date(), nullable=False, comment="first day of the contribution month"
        ),
        sa.Column("employer_name", sa.String(length=200), nullable=False),
        sa.Column("employer_uscc", sa.String(length=18), nullable=False),
        sa.Column(
            "contribution_base", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "pension_personal", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "pension_employer", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_security_month")),
        sa.UniqueConstraint(
            "id_number",
            "month",
            "employer_uscc",
            name=op.f("uq_social_security_month_id_number_month_employer_uscc"),
        ),
    )
    op.create_table(
        "tax_profile",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("id_or_uscc", sa.String(length=18), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("tax_credit_rating", sa.String(length=1), nullable=True),
        sa.Column("revenue_y1", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column("revenue_y2", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column("revenue_y3", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column("tax_paid_y1", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column("tax_paid_y2", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column("tax_paid_y3", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column(
            "arrears_amount", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True
        ),
        sa.Column("arrears_since", sa.Date(), nullable=True),
        sa.Column("penalty_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_profile")),
        sa.UniqueConstraint("request_id", name=op.f("uq_tax_profile_request_id")),
    )
    op.create_index(op.f("ix_tax_profile_id_or_uscc"), "tax_profile", ["id_or_uscc"], unique=False)
    op.create_table(
        "work_item",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("business_key", sa.String(length=200), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=11), nullable=False),
        sa.Column("failure_kind", sa.String(length=9), nullable=True),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("lease_expires_at", schemas.types.UTCDateTimeType(timezone=True), nullable=True),
        sa.Column("created_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("updated_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_item")),
        sa.UniqueConstraint("kind", "business_key", name=op.f("uq_work_item_kind_business_key")),
    )
    op.create_index(op.f("ix_work_item_state"), "work_item", ["state"], unique=False)
    op.create_table(
        "credit_account",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("account_ref", sa.String(length=40), nullable=False),
        sa.Column("account_type", sa.String(length=11), nullable=False),
        sa.Column("institution", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.Column("credit_limit", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column("balance", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False),
        sa.Column(
            "overdue_amount", schemas.types.ExactNumeric(precision=18, scale=2), nullable=False
        ),
        sa.Column("status_24m", sa.String(length=24), nullable=False),
        sa.Column(
            "report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["credit_report.id"],
            name=op.f("fk_credit_account_report_id_credit_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_account")),
        sa.UniqueConstraint(
            "report_id", "account_ref", name=op.f("uq_credit_account_report_id_account_ref")
        ),
    )
    op.create_index(
        op.f("ix_credit_account_report_id"), "credit_account", ["report_id"], unique=False
    )
    op.create_table(
        "credit_inquiry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("inquired_on", sa.Date(), nullable=False),
        sa.Column("institution", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column(
            "report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["credit_report.id"],
            name=op.f("fk_credit_inquiry_report_id_credit_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_inquiry")),
    )
    op.create_index(
        op.f("ix_credit_inquiry_report_id"), "credit_inquiry", ["report_id"], unique=False
    )
    op.create_table(
        "credit_public_record",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=22), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("amount", schemas.types.ExactNumeric(precision=18, scale=2), nullable=True),
        sa.Column("authority", sa.String(length=100), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column(
            "report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["credit_report.id"],
            name=op.f("fk_credit_public_record_report_id_credit_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_public_record")),
    )
    op.create_index(
        op.f("ix_credit_public_record_report_id"),
        "credit_public_record",
        ["report_id"],
        unique=False,
    )
    op.create_table(
        "credit_account_month",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=False),
        sa.Column("raw_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("status_code", sa.String(length=1), nullable=False),
        sa.Column("months_overdue", sa.Integer(), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["credit_account.id"],
            name=op.f("fk_credit_account_month_account_id_credit_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_account_month")),
        sa.UniqueConstraint(
            "account_id", "month", name=op.f("uq_credit_account_month_account_id_month")
        ),
    )
    op.create_index(
        op.f("ix_credit_account_month_account_id"),
        "credit_account_month",
        ["account_id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP;
END $$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
"""


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    op.drop_index(op.f("ix_credit_account_month_account_id"), table_name="credit_account_month")
    op.drop_table("credit_account_month")
    op.drop_index(op.f("ix_credit_public_record_report_id"), table_name="credit_public_record")
    op.drop_table("credit_public_record")
    op.drop_index(op.f("ix_credit_inquiry_report_id"), table_name="credit_inquiry")
    op.drop_table("credit_inquiry")
    op.drop_index(op.f("ix_credit_account_report_id"), table_name="credit_account")
    op.drop_table("credit_account")
    op.drop_index(op.f("ix_work_item_state"), table_name="work_item")
    op.drop_table("work_item")
    op.drop_index(op.f("ix_tax_profile_id_or_uscc"), table_name="tax_profile")
    op.drop_table("tax_profile")
    op.drop_table("social_security_month")
    op.drop_index(op.f("ix_repayment_installment_due_date"), table_name="repayment_installment")
    op.drop_table("repayment_installment")
    op.drop_index(
        op.f("ix_quarantined_record_source_system_source_ref"), table_name="quarantined_record"
    )
    op.drop_table("quarantined_record")
    op.drop_table("party")
    op.drop_index(op.f("ix_loan_application_no"), table_name="loan")
    op.drop_table("loan")
    op.drop_index(op.f("ix_file_receipt_source_system_name"), table_name="file_receipt")
    op.drop_table("file_receipt")
    op.drop_index(op.f("ix_early_warning_loan_account"), table_name="early_warning")
    op.drop_table("early_warning")
    op.drop_table("disbursement")
    op.drop_index(op.f("ix_decision_application_no"), table_name="decision")
    op.drop_table("decision")
    op.drop_index(
        op.f("ix_credit_report_subject_id_number_query_reason"), table_name="credit_report"
    )
    op.drop_index(op.f("ix_credit_report_application_no"), table_name="credit_report")
    op.drop_table("credit_report")
    op.drop_table("core_monthly_summary")
    op.drop_index(op.f("ix_core_customer_id_number"), table_name="core_customer")
    op.drop_table("core_customer")
    op.drop_index(op.f("ix_core_account_customer_no"), table_name="core_account")
    op.drop_table("core_account")
    op.drop_index(op.f("ix_consent_party_id_number_scope"), table_name="consent")
    op.drop_table("consent")
    op.drop_table("audit_event")
    op.drop_index(op.f("ix_application_party_id_number"), table_name="application")
    op.drop_table("application")
