"""running totals and audit verifications: counters that purges never decrease

Revision ID: 0017_running_totals
Revises: 0016_case_file
Create Date: 2026-12-08

``/metrics`` counted rows (calls, files, quarantined records, warnings), so a purge of old
calls, or records taken out of quarantine, made a counter drop. The counters are now running
totals (``running_total``), added to in the transaction that stores what they count. They
start from what the store holds at this revision, so a scrape after the upgrade continues
where the one before it stopped. ``audit_verification`` keeps each walk of the audit chain
and its result, which ``/metrics`` reports without walking the chain at every scrape.
"""

from __future__ import annotations

import json
from collections import Counter

import sqlalchemy as sa
from alembic import op

import schemas.types

revision = "0017_running_totals"
down_revision = "0016_case_file"
branch_labels = None
depends_on = None

# the latency buckets of this revision (seconds), as loanhub.platform.calls had them
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


def _labels(**labels: str) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _bucket_case() -> str:
    """The bucket a call's duration falls in (its smallest bound), as SQL."""
    whens = " ".join(f"WHEN duration_ms <= {round(b * 1000)} THEN '{b!r}'" for b in BUCKETS)
    return f"CASE {whens} ELSE '+Inf' END"


def upgrade() -> None:
    op.create_table(
        "audit_verification",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("verified_at", schemas.types.UTCDateTimeType(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column(
            "checked",
            sa.Integer(),
            nullable=False,
            comment="events verified (before the broken one, if any)",
        ),
        sa.Column("broken_seq", sa.Integer(), nullable=True, comment="the first event that failed"),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "head_hash", sa.String(length=64), nullable=True, comment="the newest hash walked"
        ),
        sa.Column("verified_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verification")),
    )
    totals = op.create_table(
        "running_total",
        sa.Column(
            "name", sa.String(length=80), nullable=False, comment="the counter, e.g. source_calls"
        ),
        sa.Column(
            "labels",
            sa.String(length=400),
            nullable=False,
            comment="its labels: canonical JSON, sorted keys",
        ),
        sa.Column(
            "value", sa.BigInteger(), nullable=False, comment="the total so far; never decreases"
        ),
        sa.PrimaryKeyConstraint("name", "labels", name=op.f("pk_running_total")),
    )
    op.bulk_insert(totals, [{"name": n, "labels": k, "value": v} for (n, k), v in _seed().items()])


def _seed() -> Counter[tuple[str, str]]:
    """The totals as the rows kept so far count them (aggregates: a few rows each)."""
    conn = op.get_bind()
    seed: Counter[tuple[str, str]] = Counter()
    for system, outcome, n, ms in conn.execute(
        sa.text(
            "SELECT system, outcome, count(*), coalesce(sum(duration_ms), 0) FROM source_call "
            "GROUP BY system, outcome"
        )
    ):
        seed["source_calls", _labels(system=system, outcome=outcome)] += n
        seed["source_call_duration_ms_sum", _labels(system=system)] += int(ms)
    bucket = _bucket_case()
    for system, le, n in conn.execute(
        sa.text(f"SELECT system, {bucket}, count(*) FROM source_call GROUP BY system, {bucket}")  # noqa: S608 - constants
    ):
        seed["source_call_duration_bucket", _labels(system=system, le=le)] += n
    for system, state, n, loaded in conn.execute(
        sa.text(
            "SELECT source_system, state, count(*), coalesce(sum(records_loaded), 0) "
            "FROM file_receipt GROUP BY source_system, state"
        )
    ):
        seed["files_received", _labels(system=system)] += n
        if state != "RECEIVED":
            seed["file_outcomes", _labels(system=system, state=state)] += n
        seed["file_records_loaded", _labels(system=system)] += int(loaded)
    for system, n in conn.execute(
        sa.text("SELECT source_system, count(*) FROM quarantined_record GROUP BY source_system")
    ):
        seed["records_quarantined", _labels(system=system)] += n
    for rule, severity, n in conn.execute(
        sa.text("SELECT rule, severity, count(*) FROM early_warning GROUP BY rule, severity")
    ):
        seed["warnings_raised", _labels(rule=rule, severity=severity)] += n
    return +seed


def downgrade() -> None:
    op.drop_table("running_total")
    op.drop_table("audit_verification")
