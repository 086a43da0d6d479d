"""audit chain keyed: a MAC per event, and TRUNCATE refused

Revision ID: 0018_audit
Revises: 0017_running_totals
Create Date: 2026-12-08

Each audit event gets ``mac``, an HMAC-SHA256 of its hash under the audit key, which the
store never holds (``LOANHUB_AUDIT__KEY`` or the key file): a database user can rewrite an
event and recompute the hashes, not the MAC. This migration cannot key the events already
stored (it has no key, and must not): ``loanhub db upgrade`` appends one keyed checkpoint
right after migrating (the first append would otherwise), whose MAC covers every event
before it.

On PostgreSQL a statement trigger also refuses TRUNCATE, which the row trigger never sees.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_audit"
down_revision = "0017_running_totals"
branch_labels = None
depends_on = None

COMMENT = (
    "HMAC-SHA256 of hash under the audit key (kept outside the store); null only for events "
    "from before the key, covered by the keyed checkpoint"
)
NO_TRUNCATE = """
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True, comment=COMMENT))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NO_TRUNCATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("mac")
