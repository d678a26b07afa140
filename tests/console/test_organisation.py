"""Teams and collectors: skills, languages, regions and capacity, managed within one's teams."""

from sqlalchemy import select

from casedb.models import Collector, Team
from tests.console.conftest import sign_in


def test_a_supervisor_sees_and_edits_only_the_collectors_of_their_teams(app, assigned, session):
    client = sign_in(app, "supervisor1")
    page = client.get("/collectors/list/").get_data(as_text=True)
    assert "催收员甲" in page and "催收员乙" not in page
    other = session.scalar(select(Collector.id).where(Collector.code == "CL2"))
    assert client.get(f"/collectors/edit/{other}").status_code in {302, 404}
    mine = session.scalar(select(Collector).where(Collector.code == "CL1"))
    form = client.get(f"/collectors/edit/{mine.id}").get_data(as_text=True)
    assert "一组" in form
    assert client.get("/collectors/add").status_code in {302, 403}
    assert client.get("/teams/add").status_code in {302, 403}


def test_skills_are_typed_as_a_comma_separated_list(app, assigned, session):
    mine = session.scalar(select(Collector).where(Collector.code == "CL1"))
    sign_in(app, "supervisor1").post(
        f"/collectors/edit/{mine.id}",
        data={
            "name": "催收员甲",
            "team": str(mine.team_id),
            "skills": "legal, hardship,, legal",
            "languages": "zh，yue",
            "capacity": "120",
            "active": "y",
        },
    )
    session.rollback()
    saved = session.get(Collector, mine.id)
    assert saved.skills == ["legal", "hardship"]
    assert saved.languages == ["zh", "yue"]
    assert saved.capacity == 120
    form = sign_in(app, "supervisor1").get(f"/collectors/edit/{mine.id}").get_data(as_text=True)
    assert 'value="legal, hardship"' in form


def test_a_capacity_out_of_range_is_refused_with_the_reason(app, assigned, session):
    mine = session.scalar(select(Collector).where(Collector.code == "CL1"))
    client = sign_in(app, "supervisor1")
    client.get("/lang/en")
    page = client.post(
        f"/collectors/edit/{mine.id}",
        data={"name": "催收员甲", "team": str(mine.team_id), "capacity": "-5", "active": "y"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "capacity: a whole number of open cases from 0 to 5,000" in page
    session.rollback()
    assert session.get(Collector, mine.id).capacity == 200


def test_an_admin_adds_a_team_only_for_an_existing_supervisor_login(app, assigned, session):
    client = sign_in(app, "admin")
    refused = client.post(
        "/teams/add",
        data={"code": "T9", "name": "九组", "supervisor_username": "nobody", "active": "y"},
        follow_redirects=True,
    )
    assert "没有名为 nobody 的登录账号" in refused.get_data(as_text=True)
    client.post(
        "/teams/add",
        data={"code": "T9", "name": "九组", "supervisor_username": "supervisor1", "active": "y"},
    )
    session.rollback()
    assert session.scalar(select(Team.name).where(Team.code == "T9")) == "九组"
    teams = sign_in(app, "supervisor1").get("/teams/list/").get_data(as_text=True)
    assert "九组" in teams and "一组" in teams


def test_a_collector_cannot_be_left_without_a_team(app, assigned, session):
    mine = session.scalar(select(Collector).where(Collector.code == "CL1"))
    refused = sign_in(app, "supervisor1").post(
        f"/collectors/edit/{mine.id}", data={"name": "催收员甲", "capacity": "10", "active": "y"}
    )
    assert refused.status_code == 200
    session.rollback()
    assert session.get(Collector, mine.id).team_id == mine.team_id
