"""Bulk inserts (COPY on PostgreSQL) keep column defaults, Chinese text and JSON, and can
hand back the new ids in the order the rows were given."""

from sqlalchemy import select

from casedb.bulk_insert import insert_rows
from casedb.models import Team
from casedb.session import transaction


def _teams(count: int, start: int = 0) -> list[dict]:
    return [{"code": f"B{start + n:03d}", "name": f"第{start + n}组"} for n in range(count)]


def test_rows_go_in_with_their_defaults_and_chinese_text(engine):
    with transaction(engine) as session:
        assert insert_rows(session, Team.__table__, _teams(3)) == []
    with transaction(engine) as session:
        teams = session.scalars(select(Team).order_by(Team.code)).all()
        assert [(t.code, t.name) for t in teams] == [
            ("B000", "第0组"),
            ("B001", "第1组"),
            ("B002", "第2组"),
        ]
        assert all(t.created_at is not None for t in teams)


def test_the_new_ids_come_back_in_the_order_of_the_rows(engine):
    with transaction(engine) as session:
        insert_rows(session, Team.__table__, _teams(2))
        ids = insert_rows(session, Team.__table__, _teams(5, start=10)[::-1], return_ids=True)
        assert len(set(ids)) == 5
        codes = dict(session.execute(select(Team.id, Team.code)).all())
        assert [codes[i] for i in ids] == ["B014", "B013", "B012", "B011", "B010"]
    with transaction(engine) as session:  # the sequence moved past the ids drawn
        session.add(Team(code="B099", name="后来"))
        session.flush()
        assert session.scalar(select(Team.id).where(Team.code == "B099")) > max(ids)


def test_nothing_to_insert_is_no_query(engine):
    with transaction(engine) as session:
        assert insert_rows(session, Team.__table__, [], return_ids=True) == []
