"""Rule authoring in the console: a table from draft to a decided case, by role, with no code.

The round trip of the issue through the test client: an analyst creates a table, saves a cell
that does not parse (400 with every cell error), fixes it, adds a test case (submission refused
while it fails), submits; the author cannot approve (maker-checker), another supervisor does and
publishes; the rules service applies the version to a case and the decision log finds the case
by version and row. Rolling back publishes the older version again and retires the newer.
"""

from __future__ import annotations

import io
import itertools
import json
import os

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from casedb.models import (
    AuditEntry,
    CollectionCase,
    PublishedRuleset,
    RuleDecision,
    RulesetVersion,
    VersionStatus,
)
from casedb.session import transaction
from console.rules_catalogue import OUTPUTS
from rules_service.decision_table import REQUIRED_OUTPUTS, Kind, checksum, from_json
from rules_service.default_policy import RULESETS_DIR
from rules_service.relay import Relay
from tests.console.conftest import PASSWORDS, sign_in

# durable-rules keeps every ruleset name for the life of the process: each test's tables get a
# name no other test in this run has published.
_NAMES = itertools.count(1)


@pytest.fixture
def table_name() -> str:
    return f"authoring_{os.getpid()}_{next(_NAMES)}"


@pytest.fixture
def lead(app):  # also creates supervisor2
    """``lead``: an analyst who is a supervisor too, to show that writing and approving one's
    own version is refused whatever the roles."""
    with app.app_context():
        security = app.appbuilder.sm
        roles = [security.find_role("Analyst"), security.find_role("Supervisor")]
        if security.find_user(username="lead") is None:
            security.add_user(
                "lead", "lead", "demo", "lead@demo.invalid", roles, password="lead123"
            )
        if security.find_user(username="supervisor2") is None:
            security.add_user(
                "supervisor2",
                "supervisor2",
                "demo",
                "supervisor2@demo.invalid",
                security.find_role("Supervisor"),
                password="supervisor123",
            )
    PASSWORDS.setdefault("lead", "lead123")
    PASSWORDS.setdefault("supervisor2", "supervisor123")
    return "lead"


def assignment(name: str, first_cell: str = ">= 30", selection: str = "keep_current") -> dict:
    """An assignment table: R1 takes cases over 30 DPD, R2 every other case; both keep the case
    with its team T1 and collector."""
    return {
        "format": 1,
        "name": name,
        "kind": "assignment",
        "version": 1,
        "hit_policy": "FIRST",
        "inputs": [{"fact": "dpd", "type": "integer"}, {"fact": "bucket", "type": "enum"}],
        "outputs": [
            {"name": "team", "type": "text"},
            {"name": "required_skill", "type": "text"},
            {
                "name": "selection",
                "type": "enum",
                "values": ["keep_current", "least_loaded", "round_robin"],
            },
        ],
        "rows": [
            {
                "id": "R1",
                "when": {"dpd": first_cell, "bucket": "-"},
                "then": {"team": "T1", "required_skill": None, "selection": selection},
            },
            {
                "id": "R2",
                "when": {"dpd": "-", "bucket": "-"},
                "then": {"team": "T1", "required_skill": None, "selection": "keep_current"},
            },
        ],
    }


def a_test(team: str = "T1") -> dict:
    return {"name": "K1 stays with T1", "facts": {"dpd": 45}, "expect": {"team": team}}


def create_draft(client, name: str, kind: str = "assignment") -> int:
    response = client.post("/rulesets/new", data={"kind": kind, "name": name})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def save(client, version_id: int, document: dict, tests: list | None = None):
    body = {"document": document}
    if tests is not None:
        body["tests"] = tests
    return client.post(f"/rulesets/version/{version_id}/save", json=body)


def version_of(engine, version_id: int) -> RulesetVersion:
    with transaction(engine) as session:
        version = session.get(RulesetVersion, version_id)
        session.expunge(version)
        return version


def published_version(engine, table_name: str, analyst, supervisor, document=None) -> int:
    """A version of ``table_name`` written by ``analyst`` and approved and published by
    ``supervisor`` through the pages; returns its id."""
    version_id = create_draft(analyst, table_name)
    assert (
        save(analyst, version_id, document or assignment(table_name), [a_test()]).status_code == 200
    )
    assert analyst.post(f"/rulesets/version/{version_id}/submit").status_code == 302
    assert supervisor.post(f"/rulesets/version/{version_id}/approve").status_code == 302
    assert supervisor.post(f"/rulesets/version/{version_id}/publish").status_code == 302
    return version_id


# --- the round trip ---------------------------------------------------------------------------


def test_a_table_goes_from_draft_to_a_decided_case_with_four_eyes(
    app, assigned, engine, table_name, lead
):
    analyst = sign_in(app, "analyst")

    # A blank assignment table of the kind's required outputs, as a draft of version 1.
    version_id = create_draft(analyst, table_name)
    page = analyst.get(f"/rulesets/version/{version_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert table_name in text and "草稿" in text  # zh: draft
    draft = version_of(engine, version_id)
    assert draft.status is VersionStatus.DRAFT and draft.author == "analyst"
    assert {o["name"] for o in draft.document["outputs"]} == set(REQUIRED_OUTPUTS[Kind.ASSIGNMENT])

    # One cell that does not parse and one output outside its choices: 400, both named.
    broken = assignment(table_name, first_cell=">= abc", selection="nearest")
    response = save(analyst, version_id, broken)
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    where = {(e["row"], e["index"], e["column"]) for e in errors}
    assert where == {("R1", 0, "dpd"), ("R1", 0, "selection")}, errors
    assert all(e["message"] for e in errors)
    assert version_of(engine, version_id).document["inputs"] == [
        {"fact": "dpd", "type": "integer"}
    ], "nothing saved"

    # Whatever the page might send, the answer is a 400 with the reason, never a 500.
    for document in (
        None,
        [],
        {"inputs": [{"fact": ["dpd"]}], "outputs": [{"name": ["x"]}], "rows": [{"id": ["R"]}]},
        {**broken, "rows": [{"id": "R1", "when": "dpd", "then": []}]},
        {
            **assignment(table_name),
            "hit_policy": "PRIORITY",
            "outputs": [{"name": "team", "type": "text"}],
        },
    ):
        answer = save(analyst, version_id, document)
        assert answer.status_code == 400 and answer.get_json()["message"], document
    assert analyst.post(f"/rulesets/version/{version_id}/save", data="x").status_code == 400

    # A single cell checked as the analyst leaves it.
    check = analyst.post("/rulesets/validate-cell", json={"fact": "dpd", "text": ">= abc"})
    assert check.get_json()["ok"] is False and check.get_json()["message"]
    check = analyst.post("/rulesets/validate-cell", json={"fact": "bucket", "text": '"M2","M3"'})
    assert check.get_json() == {"ok": True, "text": '"M2", "M3"'}

    # Fixed, with a test case that fails: saved, with the analysis findings.
    response = save(analyst, version_id, assignment(table_name), [a_test(team="T2")])
    assert response.status_code == 200, response.get_json()
    saved = response.get_json()["version"]
    assert saved["status"] == "draft" and saved["tests"] == [a_test(team="T2")]
    assert isinstance(saved["findings"], list)
    results = analyst.post(f"/rulesets/version/{version_id}/tests/run", json={}).get_json()
    assert results["failed"] == 1 and "T2" in results["results"][0]["message"]

    # Submission is refused while a test fails, with the reason in the page.
    refused = analyst.post(f"/rulesets/version/{version_id}/submit", data={"next": "editor"})
    assert refused.status_code == 409
    assert "K1 stays with T1" in refused.get_data(as_text=True)
    assert version_of(engine, version_id).status is VersionStatus.DRAFT

    # The fixed test passes (run from the page's unsaved state), then it is saved and submitted.
    unsaved = {"document": assignment(table_name), "tests": [a_test()]}
    results = analyst.post(f"/rulesets/version/{version_id}/tests/run", json=unsaved).get_json()
    assert results["passed"] == 1 and results["failed"] == 0
    assert save(analyst, version_id, assignment(table_name), [a_test()]).status_code == 200
    assert analyst.post(f"/rulesets/version/{version_id}/submit").status_code == 302
    assert version_of(engine, version_id).status is VersionStatus.SUBMITTED
    # Frozen now: saving is refused.
    assert save(analyst, version_id, assignment(table_name)).status_code == 409

    # An analyst has no approval permission at all; the console refuses it.
    assert analyst.post(f"/rulesets/version/{version_id}/approve").status_code == 403

    # Another supervisor approves and publishes; both are recorded.
    supervisor = sign_in(app, "supervisor1")
    index = supervisor.get("/rulesets/").get_data(as_text=True)
    assert f"version-{version_id}" in index and "approve-version" in index
    assert supervisor.post(f"/rulesets/version/{version_id}/approve").status_code == 302
    assert supervisor.post(f"/rulesets/version/{version_id}/publish").status_code == 302
    version = version_of(engine, version_id)
    assert version.status is VersionStatus.PUBLISHED
    assert (version.author, version.submitted_by) == ("analyst", "analyst")
    assert (version.approved_by, version.published_by) == ("supervisor1", "supervisor1")

    # Every step is in the audit trail under the signed-in user.
    with transaction(engine) as session:
        actors = set(
            session.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.table_name == "ruleset_version",
                    AuditEntry.row_id == str(version_id),
                )
            )
        )
        assert {"analyst", "supervisor1"} <= actors

    # The rules service runs it: every open case is decided again by the new version.
    Relay(engine).run(once=True)
    with transaction(engine) as session:
        decided = dict(
            session.execute(
                select(CollectionCase.case_no, RuleDecision.rows)
                .join(CollectionCase, CollectionCase.id == RuleDecision.case_id)
                .where(RuleDecision.ruleset == table_name, RuleDecision.version == 1)
            ).all()
        )
    assert decided == {"K1": ["R1"], "K2": ["R2"]}

    # "Which cases did row R1 of this table's v1 decide?"
    log = analyst.get(f"/decisions/?ruleset={table_name}&version=1&row=R1")
    assert log.status_code == 200
    text = log.get_data(as_text=True)
    assert 'data-case="K1"' in text and 'data-case="K2"' not in text
    assert f"/rulesets/version/{version_id}#row-R1" in text


def test_maker_checker_refuses_self_approval(app, assigned, engine, table_name, lead):
    writer = sign_in(app, lead)  # an analyst and a supervisor
    version_id = create_draft(writer, table_name)
    assert save(writer, version_id, assignment(table_name), [a_test()]).status_code == 200
    assert writer.post(f"/rulesets/version/{version_id}/submit").status_code == 302

    # The page offers the author no approval, and the step itself is refused.
    index = writer.get("/rulesets/").get_data(as_text=True)
    assert f'action="/rulesets/version/{version_id}/approve"' not in index
    refused = writer.post(f"/rulesets/version/{version_id}/approve")
    assert refused.status_code == 409
    assert "maker-checker" in refused.get_data(as_text=True)
    version = version_of(engine, version_id)
    assert version.status is VersionStatus.SUBMITTED and version.approved_by is None

    # Nor may an approver publish what nobody approved.
    assert (
        sign_in(app, "supervisor2").post(f"/rulesets/version/{version_id}/publish").status_code
        == 409
    )

    # A rejection needs a reason, and keeps it.
    checker = sign_in(app, "supervisor2")
    assert (
        checker.post(f"/rulesets/version/{version_id}/reject", data={"note": " "}).status_code
        == 409
    )
    assert (
        checker.post(f"/rulesets/version/{version_id}/reject", data={"note": "R2 too broad"})
    ).status_code == 302
    version = version_of(engine, version_id)
    assert version.status is VersionStatus.REJECTED and version.note == "R2 too broad"


def test_rolling_back_publishes_the_older_version_and_retires_the_newer(
    app, assigned, engine, table_name
):
    analyst, supervisor = sign_in(app, "analyst"), sign_in(app, "supervisor1")
    first = published_version(engine, table_name, analyst, supervisor)

    # A new draft from v1 is v2; change R1 and publish it.
    response = analyst.post("/rulesets/new", data={"source": str(first)})
    assert response.status_code == 302
    second = int(response.headers["Location"].rsplit("/", 1)[1])
    draft = version_of(engine, second)
    assert draft.version == 2 and draft.tests == [a_test()] and draft.based_on_id == first
    changed = assignment(table_name, first_cell=">= 60")
    assert save(analyst, second, changed, [a_test(team="T1")]).status_code == 200
    assert analyst.post(f"/rulesets/version/{second}/submit").status_code == 302
    assert supervisor.post(f"/rulesets/version/{second}/approve").status_code == 302
    assert supervisor.post(f"/rulesets/version/{second}/publish").status_code == 302
    assert version_of(engine, first).status is VersionStatus.RETIRED
    assert version_of(engine, second).status is VersionStatus.PUBLISHED

    # The diff shows R1's old and new cell side by side.
    diff = analyst.get(f"/rulesets/diff?a={first}&b={second}")
    assert diff.status_code == 200
    text = diff.get_data(as_text=True)
    assert 'id="diff-row-R1" class="diff-changed"' in text
    assert "<del>&gt;= 30</del>" in text and "<ins>&gt;= 60</ins>" in text
    assert 'id="diff-row-R2" class="diff-same"' in text

    # Roll back: v1 runs again, v2 is retired; only v1 is active for the service.
    index = supervisor.get("/rulesets/").get_data(as_text=True)
    assert "rollback-version" in index
    assert supervisor.post(f"/rulesets/version/{first}/publish").status_code == 302
    assert version_of(engine, first).status is VersionStatus.PUBLISHED
    assert version_of(engine, second).status is VersionStatus.RETIRED
    with transaction(engine) as session:
        active = (
            session.execute(
                select(PublishedRuleset.version).where(
                    PublishedRuleset.name == table_name, PublishedRuleset.active.is_(True)
                )
            )
            .scalars()
            .all()
        )
    assert active == [1]

    # A published version cannot be published again, and says so in the page.
    again = supervisor.post(f"/rulesets/version/{first}/publish")
    assert again.status_code == 409 and "published" in again.get_data(as_text=True)


def test_json_and_xlsx_export_import_round_trip(app, assigned, engine, table_name):
    analyst = sign_in(app, "analyst")
    version_id = create_draft(analyst, table_name)
    assert save(analyst, version_id, assignment(table_name), [a_test()]).status_code == 200

    exported = analyst.get(f"/rulesets/version/{version_id}/export.json")
    assert exported.status_code == 200
    assert f"{table_name}_v1.json" in exported.headers["Content-Disposition"]
    document = json.loads(exported.data)
    response = analyst.post(
        "/rulesets/import",
        data={"file": (io.BytesIO(exported.data), f"{table_name}.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    from_json_id = int(response.headers["Location"].rsplit("/", 1)[1])
    imported = version_of(engine, from_json_id)
    assert imported.version == 2 and imported.status is VersionStatus.DRAFT
    assert {**imported.document, "version": 1} == document

    workbook = analyst.get(f"/rulesets/version/{version_id}/export.xlsx")
    assert workbook.status_code == 200 and workbook.data.startswith(b"PK\x03\x04")
    assert load_workbook(io.BytesIO(workbook.data)).sheetnames
    response = analyst.post(
        "/rulesets/import",
        data={"file": (io.BytesIO(workbook.data), f"{table_name}.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    from_xlsx = version_of(engine, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert from_xlsx.version == 3
    assert {**from_xlsx.document, "version": 1} == document
    assert from_xlsx.tests == [a_test()]

    # A file that is not a table is refused in the page, with the reason.
    bad = analyst.post(
        "/rulesets/import",
        data={"file": (io.BytesIO(b'{"name": "x"}'), "x.json")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and 'id="rules-error"' in bad.get_data(as_text=True)
    other = analyst.post(
        "/rulesets/import",
        data={"file": (io.BytesIO(b"name,dpd\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert other.status_code == 400


def test_test_cases_upload_from_csv_with_row_errors(app, assigned, engine, table_name):
    analyst = sign_in(app, "analyst")
    version_id = create_draft(analyst, table_name)
    assert save(analyst, version_id, assignment(table_name)).status_code == 200
    csv_file = b"name,dpd,expect.team\nold case,45,T1\nbad dpd,abc,T1\n"
    response = analyst.post(
        f"/rulesets/version/{version_id}/tests/upload",
        data={"file": (io.BytesIO(csv_file), "tests.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    answer = response.get_json()
    assert [t["name"] for t in answer["tests"]] == ["old case"]
    assert len(answer["errors"]) == 1 and answer["errors"][0]["row"] == 3
    # Nothing is stored until the page saves them.
    assert version_of(engine, version_id).tests == []


def test_a_blank_table_needs_a_new_valid_name(app, assigned, table_name):
    analyst = sign_in(app, "analyst")
    bad = analyst.post("/rulesets/new", data={"kind": "assignment", "name": "Bad Name"})
    assert bad.status_code == 400 and 'id="rules-error"' in bad.get_data(as_text=True)
    assert (
        analyst.post("/rulesets/new", data={"kind": "nope", "name": table_name}).status_code == 400
    )
    create_draft(analyst, table_name)
    taken = analyst.post("/rulesets/new", data={"kind": "priority", "name": table_name})
    assert taken.status_code == 409


def test_what_each_role_may_do_with_rulesets(app, assigned, engine, table_name):
    analyst, supervisor = sign_in(app, "analyst"), sign_in(app, "supervisor1")
    version_id = published_version(engine, table_name, analyst, supervisor)
    auditor, collector = sign_in(app, "auditor"), sign_in(app, "collector1")

    # Auditors read versions, diffs, exports and the decision log, and change nothing.
    for url in (
        "/rulesets/",
        f"/rulesets/version/{version_id}",
        f"/rulesets/version/{version_id}/export.json",
        f"/rulesets/diff?a={version_id}&b={version_id}",
        "/decisions/",
    ):
        assert auditor.get(url).status_code == 200, url
    page = auditor.get(f"/rulesets/version/{version_id}").get_data(as_text=True)
    assert 'id="read-only-note"' in page and editor_config(page)["editable"] is False
    assert auditor.post("/rulesets/new", data={"source": str(version_id)}).status_code == 403
    assert auditor.post(f"/rulesets/version/{version_id}/publish").status_code == 403

    # Analysts write and submit but neither approve nor publish.
    assert analyst.post(f"/rulesets/version/{version_id}/publish").status_code == 403
    assert analyst.post(f"/rulesets/version/{version_id}/reject").status_code == 403

    # Supervisors approve and publish but do not write drafts.
    assert supervisor.post("/rulesets/new", data={"source": str(version_id)}).status_code == 403
    assert supervisor.post(f"/rulesets/version/{version_id}/submit").status_code == 403
    assert supervisor.post(f"/rulesets/version/{version_id}/simulate").status_code == 403
    assert supervisor.post(f"/rulesets/version/{version_id}/save", json={}).status_code == 403

    # Collectors have nothing to do with rulesets.
    for url in ("/rulesets/", f"/rulesets/version/{version_id}"):
        assert collector.get(url).status_code == 403, url
    assert (
        collector.post("/rulesets/validate-cell", json={"fact": "dpd", "text": "1"}).status_code
        == 403
    )


def test_the_output_catalogue_offers_what_the_shipped_tables_use():
    for path in sorted(RULESETS_DIR.glob("*.json")):
        table = from_json(path.read_text())
        offered = {spec.name: spec for spec in OUTPUTS[table.kind]}
        for output in table.outputs:
            assert output.name in offered, (table.name, output.name)
            assert offered[output.name].type is output.type
            assert offered[output.name].values == output.values


def editor_config(page: str) -> dict:
    """The editor script's data: what the page hands to rules_editor.js."""
    start = page.index('id="editor-config">') + len('id="editor-config">')
    return json.loads(page[start : page.index("</script>", start)])


def test_the_editor_and_index_speak_chinese_and_english(app, assigned, table_name):
    analyst = sign_in(app, "analyst")
    version_id = create_draft(analyst, table_name)
    page = analyst.get(f"/rulesets/version/{version_id}").get_data(as_text=True)
    config = editor_config(page)
    facts = {fact["name"]: fact for fact in config["facts"]}
    assert "决策表" in page and "命中策略" in page
    assert (facts["dpd"]["label"], facts["dpd"]["unit"]) == ("逾期天数", "天")
    assert {o["name"]: o["label"] for o in config["outputs"]}["team"] == "催收组(代码或名称)"
    assert config["text"]["save_failed"] == "未保存"
    assert "规则集" in analyst.get("/rulesets/").get_data(as_text=True)
    analyst.get("/lang/en")
    page = analyst.get(f"/rulesets/version/{version_id}").get_data(as_text=True)
    facts = {fact["name"]: fact for fact in editor_config(page)["facts"]}
    assert "Decision table" in page and "Hit policy" in page
    assert facts["dpd"]["label"].startswith("Days past due") and facts["dpd"]["unit"] == "days"


def test_a_simulation_runs_as_a_job_and_its_result_stays_with_the_version(
    app, assigned, engine, table_name, redis_connection
):
    from rq import Queue, SimpleWorker  # noqa: PLC0415

    import config  # noqa: PLC0415

    analyst = sign_in(app, "analyst")
    version_id = create_draft(analyst, table_name)
    assert save(analyst, version_id, assignment(table_name)).status_code == 200
    started = analyst.post(f"/rulesets/version/{version_id}/simulate")
    assert started.status_code == 200
    job_id = started.get_json()["job_id"]
    assert version_of(engine, version_id).simulation_job_id == job_id
    waiting = analyst.get(f"/rulesets/version/{version_id}/simulation").get_json()
    assert waiting["state"] == "queued" and waiting["result"] is None

    queue = Queue(config.WORKER_QUEUES[-1], connection=redis_connection)
    SimpleWorker([queue], connection=redis_connection).work(burst=True)

    done = analyst.get(f"/rulesets/version/{version_id}/simulation").get_json()
    assert done["state"] == "finished", done
    assert done["result"]["cases"] == 2
    assert "team" in done["result"]["changed"]
    assert version_of(engine, version_id).simulation["cases"] == 2
    # Readers see it too; only authors start one.
    auditor = sign_in(app, "auditor")
    assert auditor.get(f"/rulesets/version/{version_id}/simulation").status_code == 200
    assert auditor.post(f"/rulesets/version/{version_id}/simulate").status_code == 403


def test_the_shipped_tables_are_listed_and_a_draft_starts_from_them(app, assigned, engine):
    from rules_service.decision_table import to_dict  # noqa: PLC0415
    from rules_service.default_policy import default_policy  # noqa: PLC0415
    from rules_service.policy import publish_defaults  # noqa: PLC0415

    with transaction(engine) as session:
        publish_defaults(session, by="cli")
        # A table published before the console kept a life cycle (a row of its own only).
        document = {**to_dict(default_policy()["alert"]), "name": "legacy_alert"}
        session.add(
            PublishedRuleset(
                name="legacy_alert",
                kind="alert",
                version=1,
                checksum=checksum(from_json(document)),
                document=document,
                published_by="cli",
            )
        )
    analyst = sign_in(app, "analyst")
    index = analyst.get("/rulesets/").get_data(as_text=True)
    for name in ("assignment", "priority", "strategy", "alert"):
        assert f'id="table-{name}"' in index, name
    assert 'id="published-outside"' in index and "legacy_alert" in index

    with transaction(engine) as session:
        shipped = session.scalar(select(RulesetVersion.id).where(RulesetVersion.name == "priority"))
        legacy = session.scalar(
            select(PublishedRuleset.id).where(PublishedRuleset.name == "legacy_alert")
        )
    response = analyst.post("/rulesets/new", data={"source": str(shipped)})
    draft = version_of(engine, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert (draft.name, draft.version, draft.status) == ("priority", 2, VersionStatus.DRAFT)

    response = analyst.post("/rulesets/new", data={"published": str(legacy)})
    assert response.status_code == 302
    draft = version_of(engine, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert (draft.name, draft.version) == ("legacy_alert", 2)
    with transaction(engine) as session:
        registered = session.scalar(
            select(RulesetVersion).where(
                RulesetVersion.name == "legacy_alert", RulesetVersion.version == 1
            )
        )
        assert registered.status is VersionStatus.PUBLISHED
    assert 'id="published-outside"' not in analyst.get("/rulesets/").get_data(as_text=True)
