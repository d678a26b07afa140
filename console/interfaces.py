"""How the case list reads cases: related names loaded in bulk, codes filtered by equality.

Flask-AppBuilder's list pages load each related row with its own query (about 70 per 25-row
page of cases) and offer "starts with" first for text, which PostgreSQL answers with ILIKE and a
scan of every case. Measured in ``bench/console_pages.py``.
"""

from __future__ import annotations

from typing import Any

from flask_appbuilder.models.sqla.filters import (
    FilterContains,
    FilterEqual,
    FilterIn,
    FilterNotEqual,
    FilterStartsWith,
    SQLAFilterConverter,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy.orm import selectinload

from casedb.models import CollectionCase, Collector, Customer, Team

CODE_FILTERS = [FilterEqual, FilterNotEqual, FilterIn, FilterStartsWith, FilterContains]


class CaseFilterConverter(SQLAFilterConverter):
    """Text columns of cases are codes (case number, bucket, priority): equality comes first."""

    conversion_table = tuple(
        (kind, CODE_FILTERS if kind == "is_string" else filters)
        for kind, filters in SQLAFilterConverter.conversion_table
    )


class CaseInterface(SQLAInterface):
    filter_converter_class = CaseFilterConverter

    def apply_all(
        self,
        query: Any,
        filters: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        select_columns: list[str] | None = None,
        outer_default_load: bool = False,
    ) -> Any:
        query = super().apply_all(
            query,
            filters,
            order_column,
            order_direction,
            page,
            page_size,
            select_columns,
            outer_default_load,
        )
        # The REST API joins the columns it names itself; Flask-AppBuilder also builds
        # interfaces of this class for related models (customers, teams) to list choices.
        if select_columns or self.obj is not CollectionCase:
            return query
        return query.options(
            selectinload(CollectionCase.customer).load_only(
                Customer.name, Customer.id_number_masked
            ),
            selectinload(CollectionCase.team).load_only(Team.name),
            selectinload(CollectionCase.collector).load_only(Collector.name),
        )
