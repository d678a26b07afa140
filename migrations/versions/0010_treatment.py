"""treatment: versioned paths, each case's progress on them, due tasks, outbound messages and
settlements

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "treatment_path",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "approved",
                "published",
                "retired",
                "rejected",
                name="versionstatus",
                native_enum=False,
                length=17,
            ),
            nullable=False,
        ),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("based_on_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=64), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["based_on_id"],
            ["treatment_path.id"],
            name=op.f("fk_treatment_path_based_on_id_treatment_path"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatment_path")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_treatment_path_name_version")),
    )
    with op.batch_alter_table("treatment_path", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_treatment_path_status"), ["status", "name"], unique=False
        )

    op.create_table(
        "settlement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "settlement", "payment_plan", name="settlementkind", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "active",
                "rejected",
                "completed",
                "broken",
                "cancelled",
                name="settlementstatus",
                native_enum=False,
                length=17,
            ),
            nullable=False,
        ),
        sa.Column("owed_amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("agreed_amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("instalments", sa.JSON(), nullable=False),
        sa.Column("amount_paid", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_note", sa.Text(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_settlement_case_id_collection_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement")),
    )
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_settlement_status"), ["status", "case_id"], unique=False
        )

    op.create_table(
        "treatment_progress",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=64), nullable=False),
        sa.Column("path_version", sa.Integer(), nullable=False),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("anchor_on", sa.Date(), nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["collection_case.id"],
            name=op.f("fk_treatment_progress_case_id_collection_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatment_progress")),
        sa.UniqueConstraint("case_id", "path", name=op.f("uq_treatment_progress_case_id_path")),
    )
    with op.batch_alter_table("treatment_progress", schema=None) as batch_op:
        batch_op.create_index("ix_treatment_progress_current", ["current", "case_id"], unique=False)

    op.create_table(
        "case_task",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=64), nullable=False),
        sa.Column("path_version", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "done", "cancelled", name="taskstatus", native_enum=False, length=17),
            nullable=False,
        ),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("escalate_after_hours", sa.Integer(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("contact_attempt_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_case.id"], name=op.f("fk_case_task_case_id_collection_case")
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["collector.id"], name=op.f("fk_case_task_collector_id_collector")
        ),
        sa.ForeignKeyConstraint(
            ["contact_attempt_id"],
            ["contact_attempt.id"],
            name=op.f("fk_case_task_contact_attempt_id_contact_attempt"),
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_case_task_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_task")),
        sa.UniqueConstraint("case_id", "path", "step", name=op.f("uq_case_task_case_id_path_step")),
    )
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_task_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_case_task_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_case_task_queue", ["collector_id", "status", "due_at"], unique=False
        )

    op.create_table(
        "outbound_message",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=256), nullable=True),
        sa.Column("subject", sa.String(length=256), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "sending",
                "sent",
                "failed",
                "blocked",
                name="messagestatus",
                native_enum=False,
                length=15,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_ref", sa.String(length=128), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("document_name", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["collection_case.id"],
            name=op.f("fk_outbound_message_case_id_collection_case"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["case_task.id"], name=op.f("fk_outbound_message_task_id_case_task")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_message")),
        sa.UniqueConstraint("task_id", name=op.f("uq_outbound_message_task_id")),
    )
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_message_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_outbound_message_queue", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_message_queue")
        batch_op.drop_index(batch_op.f("ix_outbound_message_case_id"))

    op.drop_table("outbound_message")
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.drop_index("ix_case_task_queue")
        batch_op.drop_index("ix_case_task_due")
        batch_op.drop_index(batch_op.f("ix_case_task_case_id"))

    op.drop_table("case_task")
    with op.batch_alter_table("treatment_progress", schema=None) as batch_op:
        batch_op.drop_index("ix_treatment_progress_current")

    op.drop_table("treatment_progress")
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_status"))
        batch_op.drop_index(batch_op.f("ix_settlement_case_id"))

    op.drop_table("settlement")
    with op.batch_alter_table("treatment_path", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatment_path_status"))

    op.drop_table("treatment_path")
