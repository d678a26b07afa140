"""console query indexes

The case list's first page over 1,000,000 cases: FAB orders by ``priority_score DESC, id DESC``
(its default) and by ``dpd DESC, id DESC`` under a bucket filter; without these indexes both
sort the whole table (or walk the DPD index past every other bucket), and a collector's list
filtered by bucket reads the whole bucket. See ``bench/console_pages.py``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 14:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.create_index("ix_collection_case_priority", ["priority_score", "id"], unique=False)
        batch_op.create_index(
            "ix_collection_case_bucket_dpd", ["bucket", "dpd", "id"], unique=False
        )
        # A collector's list filtered by bucket: without it the planner ANDs the collector's
        # cases with the whole bucket (120k index entries) instead of reading ~100 of them.
        batch_op.create_index(
            "ix_collection_case_collector_bucket", ["collector_id", "bucket", "dpd"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_case_collector_bucket")
        batch_op.drop_index("ix_collection_case_bucket_dpd")
        batch_op.drop_index("ix_collection_case_priority")
