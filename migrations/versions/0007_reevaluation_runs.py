"""re-evaluation runs, the outbox wake-up, append-only decisions, a wider event kind

- ``reevaluation_run`` / ``reevaluation_chunk``: deciding every open case again (after a publish,
  after the daily tick), in chunks the rules-service processes share.
- PostgreSQL: a trigger on ``change_event`` sends ``NOTIFY change_event`` at commit, so an idle
  rules service wakes as soon as an event is committed instead of at its next poll.
- ``rule_decision`` becomes append-only like the audit trail: a recorded decision is evidence
  of why a case was treated as it was, so the database refuses to edit or delete it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

APPEND_ONLY = "rule decisions are append-only"


def upgrade() -> None:
    # Room for the longest event kind, collector_changed (the column is its length + 8).
    with op.batch_alter_table("change_event", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=22), type_=sa.String(length=25)
        )
    op.create_table(
        "reevaluation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reevaluation_run")),
    )
    op.create_table(
        "reevaluation_chunk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("first_case_id", sa.Integer(), nullable=False),
        sa.Column("last_case_id", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("recorded", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reevaluation_run.id"],
            name=op.f("fk_reevaluation_chunk_run_id_reevaluation_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reevaluation_chunk")),
    )
    with op.batch_alter_table("reevaluation_chunk", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reevaluation_chunk_run_id"), ["run_id"])
        batch_op.create_index(
            "ix_reevaluation_chunk_pending",
            ["id"],
            postgresql_where=sa.text("done_at IS NULL"),
            sqlite_where=sa.text("done_at IS NULL"),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION change_event_notify() RETURNS trigger AS $$
            BEGIN PERFORM pg_notify('change_event', ''); RETURN NULL; END; $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER change_event_notify AFTER INSERT ON change_event"
            " FOR EACH STATEMENT EXECUTE FUNCTION change_event_notify()"
        )
        op.execute(
            f"""
            CREATE FUNCTION rule_decision_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END; $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER rule_decision_append_only BEFORE UPDATE OR DELETE ON rule_decision"
            " FOR EACH ROW EXECUTE FUNCTION rule_decision_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER rule_decision_no_{verb.lower()} BEFORE {verb} ON rule_decision"
                f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER rule_decision_append_only ON rule_decision")
        op.execute("DROP FUNCTION rule_decision_append_only()")
        op.execute("DROP TRIGGER change_event_notify ON change_event")
        op.execute("DROP FUNCTION change_event_notify()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER rule_decision_no_{verb}")
    with op.batch_alter_table("reevaluation_chunk", schema=None) as batch_op:
        batch_op.drop_index("ix_reevaluation_chunk_pending")
        batch_op.drop_index(batch_op.f("ix_reevaluation_chunk_run_id"))
    op.drop_table("reevaluation_chunk")
    op.drop_table("reevaluation_run")
    with op.batch_alter_table("change_event", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=25), type_=sa.String(length=22)
        )
