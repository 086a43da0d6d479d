"""SQLAlchemy tables derived from the canonical pydantic models.

A column's type, length, precision and nullability come from the model's annotations, so the
model is the one place a field is declared; this module only adds what storage needs on top:
keys, parent links and indexes. The Alembic migrations are checked against this metadata by
the test suite, so a model change without a migration fails the build.
"""

from __future__ import annotations

import types
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from kernel.calls import SourceCall
from schemas.base import Lineage
from schemas.bureau import (
    CreditAccount,
    CreditAccountMonth,
    CreditInquiry,
    CreditPublicRecord,
    CreditReport,
)
from schemas.hub import (
    AuditEvent,
    AuditVerification,
    BlacklistEntry,
    CaseArchive,
    FileReceipt,
    QuarantinedRecord,
    WorkItem,
)
from schemas.lending import (
    Decision,
    Disbursement,
    EarlyWarning,
    Loan,
    PaymentFile,
    RepaymentInstallment,
)
from schemas.party import Application, Consent, Party
from schemas.profile import ApplicantProfile
from schemas.sources import (
    CoreAccount,
    CoreCustomer,
    CoreMonthlySummary,
    SocialSecurityMonth,
    TaxProfile,
)
from schemas.types import ExactNumeric, UTCDateTimeType

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

PK_TYPE = BigInteger().with_variant(Integer(), "sqlite")
JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")


def _unwrap(annotation: Any, metadata_items: list[Any]) -> tuple[Any, list[Any], bool]:
    """Strip Optional and Annotated, collecting constraint metadata and nullability."""
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extra = get_args(annotation)
            for item in extra:
                metadata_items.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            annotation = base
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) != 1:
                raise TypeError(f"cannot store a union of {args}")
            annotation = args[0]
        else:
            return annotation, metadata_items, nullable


def _meta(items: list[Any], attr: str) -> Any:
    for item in items:
        value = getattr(item, attr, None)
        if value is not None:
            return value
    return None


def column_type(annotation: Any, items: list[Any]) -> TypeEngine[Any]:
    """The SQL type for a field's base annotation and its pydantic constraints."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return String(max(len(str(m.value)) for m in annotation))
    if annotation is str:
        max_length = _meta(items, "max_length")
        return String(max_length) if max_length else Text()
    if annotation is Decimal:
        digits, places = _meta(items, "max_digits"), _meta(items, "decimal_places")
        if digits is None or places is None:
            raise TypeError("a stored Decimal needs max_digits and decimal_places (use Money)")
        return ExactNumeric(digits, places)
    if annotation is bool:
        return Boolean()
    if annotation is int:
        return Integer()
    if annotation in (datetime, AwareDatetime):
        return UTCDateTimeType()
    if annotation is date:
        return Date()
    if annotation is Any or get_origin(annotation) in (dict, list) or annotation in (dict, list):
        return JSON_TYPE
    raise TypeError(f"no column type for {annotation!r}")


def model_columns(model: type[BaseModel], *, skip: frozenset[str] = frozenset()) -> list[Column]:
    """One column per model field; a ``lineage`` field becomes the four lineage columns."""
    columns: list[Column] = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        if name == "lineage":
            columns.extend(model_columns(Lineage))
            continue
        base, items, nullable = _unwrap(field.annotation, list(field.metadata))
        columns.append(
            Column(name, column_type(base, items), nullable=nullable, comment=field.description)
        )
    return columns


TABLE_OF: dict[type[BaseModel], Table] = {}
"""Each canonical model's table: one table per model, filled as the tables are declared."""


def derived_table(
    name: str,
    model: type[BaseModel],
    *,
    unique: tuple[tuple[str, ...], ...] = (),
    index: tuple[tuple[str, ...], ...] = (),
    parent: tuple[str, str] | None = None,
    primary_key: str = "id",
) -> Table:
    """A table for ``model``: surrogate ``id`` key (or a field named as key), parent link, keys."""
    columns: list[Column] = []
    if primary_key == "id":
        columns.append(Column("id", PK_TYPE, primary_key=True, autoincrement=True))
    for col in model_columns(model, skip=frozenset({"id"})):
        if col.name == primary_key:
            col = Column(col.name, PK_TYPE, primary_key=True, autoincrement=False)
        columns.append(col)
    if parent is not None:
        fk_col, ref_table = parent
        columns.append(
            Column(
                fk_col, PK_TYPE, ForeignKey(f"{ref_table}.id", ondelete="CASCADE"), nullable=False
            )
        )
        index = ((fk_col,), *index)
    constraints: list[Any] = [UniqueConstraint(*cols) for cols in unique]
    constraints.extend(Index(None, *cols) for cols in index)
    table = Table(name, metadata, *columns, *constraints)
    TABLE_OF[model] = table
    return table


party = derived_table("party", Party, unique=(("id_number",),))
application = derived_table(
    "application", Application, unique=(("application_no",),), index=(("party_id_number",),)
)
consent = derived_table(
    "consent", Consent, unique=(("consent_ref",),), index=(("party_id_number", "scope"),)
)
credit_report = derived_table(
    "credit_report",
    CreditReport,
    unique=(("report_no",),),
    index=(("subject_id_number", "query_reason"), ("application_no",)),
)
credit_account = derived_table(
    "credit_account",
    CreditAccount,
    parent=("report_id", "credit_report"),
    unique=(("report_id", "account_ref"),),
)
credit_account_month = derived_table(
    "credit_account_month",
    CreditAccountMonth,
    parent=("account_id", "credit_account"),
    unique=(("account_id", "month"),),
)
credit_inquiry = derived_table(
    "credit_inquiry", CreditInquiry, parent=("report_id", "credit_report")
)
credit_public_record = derived_table(
    "credit_public_record", CreditPublicRecord, parent=("report_id", "credit_report")
)
tax_profile = derived_table(
    "tax_profile", TaxProfile, unique=(("request_id",),), index=(("id_or_uscc",),)
)
social_security_month = derived_table(
    "social_security_month", SocialSecurityMonth, unique=(("id_number", "month", "employer_uscc"),)
)
core_customer = derived_table(
    "core_customer", CoreCustomer, unique=(("customer_no",),), index=(("id_number",),)
)
core_account = derived_table(
    "core_account", CoreAccount, unique=(("account_no",),), index=(("customer_no",),)
)
core_monthly_summary = derived_table(
    "core_monthly_summary", CoreMonthlySummary, unique=(("account_no", "month"),)
)
decision = derived_table("decision", Decision, unique=(("los_reference",),))
# one decision per application and round: a unique index (SQLite cannot add a constraint)
Index("uq_decision_application_no_round", decision.c.application_no, decision.c.round, unique=True)
applicant_profile = derived_table(
    "applicant_profile",
    ApplicantProfile,
    unique=(("application_no", "inputs_hash"),),
    index=(("application_no",),),
)
loan = derived_table("loan", Loan, unique=(("loan_account",),), index=(("application_no",),))
disbursement = derived_table(
    "disbursement", Disbursement, unique=(("end_to_end_id",), ("loan_account", "tranche"))
)
payment_file = derived_table(
    "payment_file", PaymentFile, unique=(("msg_id",),), index=(("end_to_end_id",),)
)
repayment_installment = derived_table(
    "repayment_installment",
    RepaymentInstallment,
    unique=(("loan_account", "installment_no"),),
    index=(("due_date",),),
)
early_warning = derived_table(
    "early_warning", EarlyWarning, unique=(("warning_key",),), index=(("loan_account",),)
)
work_item = derived_table(
    "work_item", WorkItem, unique=(("kind", "business_key"),), index=(("state",),)
)
audit_event = derived_table(
    "audit_event", AuditEvent, primary_key="seq", index=(("occurred_at",),)
)
quarantined_record = derived_table(
    "quarantined_record", QuarantinedRecord, index=(("source_system", "source_ref"),)
)
file_receipt = derived_table(
    "file_receipt",
    FileReceipt,
    unique=(("source_system", "name", "sha256"),),
    index=(("source_system", "name"),),
)
blacklist_entry = derived_table("blacklist_entry", BlacklistEntry, index=(("id_number",),))
source_call = derived_table(
    "source_call", SourceCall, index=(("system", "started_at"), ("subject", "started_at"))
)
case_archive = derived_table("case_archive", CaseArchive, unique=(("application_no",),))
audit_verification = derived_table("audit_verification", AuditVerification)
# The running totals behind /metrics' counters: one row per counter and label set, added to
# in the transaction that stores what it counts, never decreased (a purge of the rows counted
# leaves them as they are). No model: it holds 64-bit sums, not a canonical record.
running_total = Table(
    "running_total",
    metadata,
    Column("name", String(80), primary_key=True, comment="the counter, e.g. source_calls"),
    Column(
        "labels", String(400), primary_key=True, comment="its labels: canonical JSON, sorted keys"
    ),
    Column("value", BigInteger(), nullable=False, comment="the total so far; never decreases"),
)


def fact_row(model: BaseModel) -> dict[str, Any]:
    """The column values of a model instance: the inverse of ``model_columns``."""
    row = model.model_dump(exclude={"lineage"} if "lineage" in type(model).model_fields else set())
    lineage = getattr(model, "lineage", None)
    if isinstance(lineage, Lineage):
        row.update(lineage.model_dump())
    return row
