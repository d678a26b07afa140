"""Console views."""

from __future__ import annotations

from flask_appbuilder import BaseView, expose, has_access
from sqlalchemy import func, select

from casedb.delinquency import bucket_labels, business_date
from casedb.models import CollectionCase, Customer, Loan


class PortfolioView(BaseView):
    """The portfolio at a glance: accounts, open cases and overdue amount by bucket."""

    route_base = "/portfolio"
    default_view = "overview"

    @expose("/")
    @has_access
    def overview(self) -> str:
        session = self.appbuilder.session
        by_bucket = dict(
            session.execute(
                select(CollectionCase.bucket, func.count())
                .where(CollectionCase.closed_on.is_(None))
                .group_by(CollectionCase.bucket)
            ).all()
        )
        return self.render_template(
            "portfolio.html",
            as_of=business_date(session),
            customers=session.scalar(select(func.count()).select_from(Customer)),
            loans=session.scalar(select(func.count()).select_from(Loan)),
            buckets=[(label, by_bucket.get(label, 0)) for label in bucket_labels()],
            open_cases=sum(by_bucket.values()),
        )
