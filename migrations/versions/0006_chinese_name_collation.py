"""Names sort by pinyin on PostgreSQL (ICU collation zh-x-icu); SQLite keeps code-point order.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

NAME_COLUMNS = [
    ("customer", "name"),
    ("third_party_contact", "name"),
    ("team", "name"),
    ("collector", "name"),
]


def _alter(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in NAME_COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(128, collation=collation),
            existing_nullable=False,
        )


def upgrade() -> None:
    _alter("zh-x-icu")


def downgrade() -> None:
    _alter(None)
