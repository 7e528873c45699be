"""dashboard indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 17:10:00

The leads' dashboard at 10,000 people x 5 years (bench/dashboard_queries.py): check-ups sent in a range
(index-only on PostgreSQL), a flag's phase in one index step, flags raised and resolved in a range.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkups_sent", ["sent_at"], unique=False, postgresql_include=["enrolment_id", "phase", "status"]
        )
        batch_op.create_index("ix_checkups_enrolment_due", ["enrolment_id", "due_at", "id"], unique=False)
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index("ix_flags_created", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_flags_resolved",
            ["resolved_at"],
            unique=False,
            sqlite_where=sa.text("outcome IS NOT NULL"),
            postgresql_where=sa.text("outcome IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index("ix_flags_resolved")
        batch_op.drop_index("ix_flags_created")
    with op.batch_alter_table("checkups", schema=None) as batch_op:
        batch_op.drop_index("ix_checkups_enrolment_due")
        batch_op.drop_index("ix_checkups_sent")
