"""The REST API: OpenAPI and Swagger UI, the same scope and masking, 4xx on bad input."""

from sqlalchemy import select

from casedb.models import Collector, Customer
from tests.console.conftest import api_token, sign_in


def test_openapi_describes_every_resource_and_swagger_ui_serves_it(app, assigned):
    client = app.test_client()
    spec = client.get("/api/v1/_openapi", headers=api_token(client, "analyst"))
    assert spec.status_code == 200
    paths = spec.get_json()["paths"]
    for resource in (
        "case",
        "customer",
        "loan",
        "contact_attempt",
        "promise_to_pay",
        "team",
        "collector",
        "audit_entry",
    ):
        assert f"/api/v1/{resource}/" in paths
    swagger = sign_in(app, "analyst").get("/swagger/v1")
    assert swagger.status_code == 200
    assert "swagger-ui-bundle.js" in swagger.get_data(as_text=True)


def test_customers_come_masked_and_scoped(app, assigned, session):
    client = app.test_client()
    headers = api_token(client, "supervisor1")
    listed = client.get("/api/v1/customer/", headers=headers).get_json()
    assert [row["customer_no"] for row in listed["result"]] == ["C1"]
    assert listed["result"][0]["id_number_masked"] == "110101********1234"
    assert "110101199003071234" not in str(listed)
    other = session.scalar(select(Customer.id).where(Customer.customer_no == "C2"))
    assert client.get(f"/api/v1/customer/{other}", headers=headers).status_code == 404
    moved = client.put(f"/api/v1/customer/{other}", json={"city": "x"}, headers=headers)
    assert moved.status_code == 404


def test_writes_validate_and_answer_4xx_with_a_message(app, assigned, session):
    client = app.test_client()
    admin = api_token(client, "admin")
    mine = session.scalar(select(Collector.id).where(Collector.code == "CL1"))
    bad = client.put(f"/api/v1/collector/{mine}", json={"capacity": -1}, headers=admin)
    assert bad.status_code == 422
    assert "capacity" in bad.get_json()["message"]
    unknown = client.put(f"/api/v1/collector/{mine}", json={"password": "x"}, headers=admin)
    assert unknown.status_code in {400, 422}
    not_json = client.post(
        "/api/v1/team/", data="code=T", headers={**admin, "Content-Type": "text/plain"}
    )
    assert 400 <= not_json.status_code < 500
    created = client.post(
        "/api/v1/team/", json={"code": "T7", "name": "七组", "active": True}, headers=admin
    )
    assert created.status_code == 201
    duplicate = client.post("/api/v1/team/", json={"code": "T7", "name": "重复"}, headers=admin)
    assert duplicate.status_code == 422


def test_collectors_and_analysts_cannot_write_through_the_api(app, assigned, session):
    client = app.test_client()
    mine = session.scalar(select(Collector.id).where(Collector.code == "CL1"))
    for username in ("collector1", "analyst", "auditor"):
        headers = api_token(client, username)
        answer = client.put(f"/api/v1/collector/{mine}", json={"capacity": 1}, headers=headers)
        assert answer.status_code in {401, 403}
    supervisor = api_token(client, "supervisor1")
    allowed = client.put(f"/api/v1/collector/{mine}", json={"capacity": 50}, headers=supervisor)
    assert allowed.status_code == 200
    session.rollback()
    assert session.get(Collector, mine).capacity == 50


def test_deleting_a_team_that_still_has_collectors_is_a_422(app, assigned, session):
    client = app.test_client()
    team = session.scalar(select(Collector.team_id).where(Collector.code == "CL1"))
    refused = client.delete(f"/api/v1/team/{team}", headers=api_token(client, "admin"))
    assert refused.status_code == 422
    assert "Database exception occurred" in refused.get_json()["message"]
