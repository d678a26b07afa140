"""ruleset versions: decision tables as analysts author them, draft to retired

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ruleset_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=17), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("simulation", sa.JSON(), nullable=True),
        sa.Column("simulation_job_id", sa.String(length=64), nullable=True),
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
            ["ruleset_version.id"],
            name=op.f("fk_ruleset_version_based_on_id_ruleset_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruleset_version")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_ruleset_version_name_version")),
    )
    with op.batch_alter_table("ruleset_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ruleset_version_kind"), ["kind", "status"])
    # The decision log is searched by table, version and row ("which cases did row 3 of
    # assignment v7 decide?").
    with op.batch_alter_table("rule_decision", schema=None) as batch_op:
        batch_op.create_index("ix_rule_decision_ruleset_version", ["ruleset", "version", "id"])


def downgrade() -> None:
    with op.batch_alter_table("rule_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_decision_ruleset_version")
    with op.batch_alter_table("ruleset_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ruleset_version_kind"))
    op.drop_table("ruleset_version")
