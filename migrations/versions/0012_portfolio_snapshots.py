"""portfolio snapshots: daily stocks and flows per dimensions at three grains, event counts by
kind, the runs; indexes for reading one day's contacts, alerts, resolved promises and cases
opened and closed

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(precision=18, scale=2)


def upgrade() -> None:
    op.create_table(
        "portfolio_event_count",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("product", sa.String(length=24), nullable=True),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_event_count")),
    )
    with op.batch_alter_table("portfolio_event_count", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_event_count_as_of"), ["as_of", "measure"], unique=False
        )

    op.create_table(
        "portfolio_snapshot",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("grain", sa.String(length=12), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("product", sa.String(length=24), nullable=True),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("bucket", sa.String(length=8), nullable=False),
        sa.Column("status_group", sa.String(length=8), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("overdue_amount", MONEY, nullable=True),
        sa.Column("overdue_at_entry", MONEY, nullable=False),
        sa.Column("dpd_total", BIG_ID, nullable=False),
        sa.Column("age_days", BIG_ID, nullable=False),
        sa.Column("entered", sa.Integer(), nullable=False),
        sa.Column("entered_overdue", MONEY, nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("closed_days", BIG_ID, nullable=False),
        sa.Column("closed_overdue", MONEY, nullable=False),
        sa.Column("collected", MONEY, nullable=False),
        sa.Column("promises_made", sa.Integer(), nullable=False),
        sa.Column("promised_amount", MONEY, nullable=False),
        sa.Column("promises_kept", sa.Integer(), nullable=False),
        sa.Column("promises_partly_kept", sa.Integer(), nullable=False),
        sa.Column("promises_broken", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("dials", sa.Integer(), nullable=False),
        sa.Column("rpc", sa.Integer(), nullable=False),
        sa.Column("alerts_raised", sa.Integer(), nullable=False),
        sa.Column("contacts_blocked", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_snapshot")),
    )
    with op.batch_alter_table("portfolio_snapshot", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_snapshot_grain"), ["grain", "as_of", "team_id"], unique=False
        )
        batch_op.create_index(
            "ix_portfolio_snapshot_collector", ["grain", "collector_id", "as_of"], unique=False
        )

    op.create_table(
        "portfolio_snapshot_run",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("written_by", sa.String(length=64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("as_of", name=op.f("pk_portfolio_snapshot_run")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_raised_at", ["raised_at"], unique=False)
    with op.batch_alter_table("contact_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_contact_attempt_started_at", ["started_at"], unique=False)
    with op.batch_alter_table("promise_to_pay", schema=None) as batch_op:
        batch_op.create_index("ix_promise_to_pay_resolved_on", ["resolved_on"], unique=False)
    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.create_index("ix_collection_case_opened_on", ["opened_on"], unique=False)
        batch_op.create_index("ix_collection_case_closed_on", ["closed_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_case_closed_on")
        batch_op.drop_index("ix_collection_case_opened_on")
    with op.batch_alter_table("promise_to_pay", schema=None) as batch_op:
        batch_op.drop_index("ix_promise_to_pay_resolved_on")
    with op.batch_alter_table("contact_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_attempt_started_at")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_raised_at")
    op.drop_table("portfolio_snapshot_run")
    with op.batch_alter_table("portfolio_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_snapshot_collector")
        batch_op.drop_index(batch_op.f("ix_portfolio_snapshot_grain"))
    op.drop_table("portfolio_snapshot")
    with op.batch_alter_table("portfolio_event_count", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_event_count_as_of"))
    op.drop_table("portfolio_event_count")
