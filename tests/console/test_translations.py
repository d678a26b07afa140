"""The console in Chinese and English: our catalog over Flask-AppBuilder's, complete and compiled.

Chinese (zh) is the default; /lang/en and /lang/zh switch, and the choice stays in the session.
Our messages are English msgids translated in console/translations/zh/LC_MESSAGES/messages.po,
which `make install` compiles to messages.mo; Flask-AppBuilder's own strings ("Search", "List
Users") come from its own zh catalog, loaded first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import render_template_string
from flask_babel import force_locale
from sqlalchemy import select

import console.app
from casedb.models import Collector
from console.labels import ENUMS, LABELS, enum_choices, enum_label, outcome_label
from tests.conftest import REPO
from tests.console.conftest import api_token, sign_in

TRANSLATIONS = REPO / "console" / "translations"
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def _catalog():
    with PO.open("rb") as file:
        return read_po(file, locale="zh")


def _keys(catalog) -> set[tuple[str | None, str]]:
    """(context, msgid) of every message; a plural message by its singular."""
    return {
        (message.context, message.id[0] if isinstance(message.id, tuple) else message.id)
        for message in catalog
        if message.id
    }


# What the pages say --------------------------------------------------------------------------


def test_our_labels_are_chinese_by_default_and_english_after_switching(app, assigned):
    client = sign_in(app, "admin")
    page = client.get("/customers/list/").get_data(as_text=True)
    for chinese in ("客户号", "姓名", "风险等级", "组合概览", "我的队列", "档案", "催收员"):
        assert chinese in page, chinese
    for english in ("Customer no.", "Risk level", "List Customer", "Portfolio", "Records"):
        assert english not in page, english

    assert client.get("/lang/en").status_code == 302
    page = client.get("/customers/list/").get_data(as_text=True)
    for english in ("Customer no.", "Full name", "Risk level", "Portfolio", "My queue"):
        assert english in page, english
    for chinese in ("客户号", "风险等级", "组合概览", "我的队列"):
        assert chinese not in page, chinese
    assert "Customer no." in client.get("/customers/list/").get_data(as_text=True), "remembered"

    client.get("/lang/zh")
    assert "客户号" in client.get("/customers/list/").get_data(as_text=True)


def test_flask_appbuilders_own_strings_stay_translated(app, assigned):
    client = sign_in(app, "admin")
    cases = client.get("/customers/list/").get_data(as_text=True)
    # Flask-AppBuilder's zh catalog: "Search" is 搜索, "Record Count" is 记录数目.
    assert "搜索" in cases and "记录数目" in cases
    assert "Record Count" not in cases
    users = client.get("/users/list/").get_data(as_text=True)
    assert "用户列表" in users and "List Users" not in users
    client.get("/lang/en")
    users = client.get("/users/list/").get_data(as_text=True)
    assert "List Users" in users and "Record Count" in users


def test_explicit_titles_replace_flask_appbuilders_english_ones(app, assigned):
    client = sign_in(app, "admin")
    for url, chinese, default_title in [
        ("/customers/list/", "客户", "List Customer"),
        ("/loans/list/", "借据", "List Loan"),
        ("/contacts/list/", "联系记录", "List Contact Attempt"),
        ("/promises/list/", "还款承诺", "List Promise To Pay"),
        ("/teams/list/", "团队", "List Team"),
        ("/collectors/list/", "催收员", "List Collector"),
        ("/audit/list/", "审计日志", "List Audit Entry"),
    ]:
        page = client.get(url).get_data(as_text=True)
        assert chinese in page, url
        assert default_title not in page, f"{url} shows Flask-AppBuilder's English title"


def test_the_portfolio_imports_and_audit_pages_speak_both_languages(app, assigned):
    client = sign_in(app, "admin")
    expected = {
        "/portfolio/": ("在催案件", "Open cases"),
        "/imports/": ("上传并导入", "Upload and import"),
        "/audit/list/": ("校验哈希链", "Verify the hash chain"),
    }
    for url, (chinese, english) in expected.items():
        page = client.get(url).get_data(as_text=True)
        assert chinese in page and english not in page, url
    client.get("/lang/en")
    for url, (chinese, english) in expected.items():
        page = client.get(url).get_data(as_text=True)
        assert english in page and chinese not in page, url


def test_form_labels_descriptions_and_choices_follow_the_language(app, assigned, session):
    mine = session.scalar(select(Collector.id).where(Collector.code == "CL1"))
    admin = sign_in(app, "admin")
    form = admin.get(f"/collectors/edit/{mine}").get_data(as_text=True)
    assert "技能" in form and "例如：legal, hardship" in form and "编辑催收员" in form
    loan_form = admin.get("/loans/add").get_data(as_text=True)
    assert '<option value="credit_card">信用卡</option>' in loan_form and "新增借据" in loan_form
    admin.get("/lang/en")
    form = admin.get(f"/collectors/edit/{mine}").get_data(as_text=True)
    assert "Skills" in form and "e.g. legal, hardship" in form and "Edit collector" in form
    loan_form = admin.get("/loans/add").get_data(as_text=True)
    assert '<option value="credit_card">Credit card</option>' in loan_form


def test_the_bulk_action_form_names_statuses_in_the_users_language(app, assigned):
    client = sign_in(app, "supervisor1")
    url = f"/cases/bulk/change_status?ids={assigned['K1']}"
    page = client.get(url).get_data(as_text=True)
    assert "1 个案件" in page and "新状态" in page and "确认" in page
    assert '<option value="in_collection">催收中</option>' in page
    client.get("/lang/en")
    page = client.get(url).get_data(as_text=True)
    assert "1 case<" in page and "New status" in page and "Apply" in page
    assert '<option value="in_collection">In collection</option>' in page


def test_the_application_name_is_translated_in_pages_and_the_openapi_spec(app, assigned):
    client = sign_in(app, "analyst")
    assert "<title>催收跟踪系统</title>" in client.get("/portfolio/").get_data(as_text=True)
    client.get("/lang/en")
    assert "<title>Collection Tracker</title>" in client.get("/portfolio/").get_data(as_text=True)
    spec = client.get("/api/v1/_openapi", headers=api_token(client, "analyst"))
    assert spec.get_json()["info"]["title"] == "Collection Tracker"


def test_a_flash_message_follows_the_language(app, assigned):
    client = sign_in(app, "auditor")
    page = client.get("/audit/verify", follow_redirects=True).get_data(as_text=True)
    assert "审计链完整" in page
    client.get("/lang/en")
    page = client.get("/audit/verify", follow_redirects=True).get_data(as_text=True)
    assert "The audit chain is intact" in page


# Labels of stored values ---------------------------------------------------------------------


def test_every_enum_value_has_a_label_in_both_languages(app):
    with app.test_request_context():
        for kind, enum_class in ENUMS.items():
            for member in enum_class:
                assert member.value in LABELS[kind], f"{kind}: {member.value} has no label"
                with force_locale("en"):
                    english = enum_label(kind, member)
                with force_locale("zh"):
                    chinese = enum_label(kind, member)
                assert english, f"{kind}: {member.value}"
                assert chinese != english, f"{kind}: {member.value} is not translated"


def test_labels_in_python_and_in_templates(app):
    with app.test_request_context(), force_locale("zh"):
        assert outcome_label("ptp") == "承诺还款"
        assert outcome_label("no_answer") == "无人接听"
        assert enum_label("case_status", "in_collection") == "催收中"
        assert enum_label("case_status", "written_off") == "已核销"
        assert enum_label("case_status", "legal") == "法诉"
        assert enum_label("promise_status", "broken") == "跳票"
        # One English word, two meanings: each kind has its own message context.
        assert enum_label("case_status", "closed") == "已结案"
        assert enum_label("loan_status", "closed") == "已结清"
        assert enum_label("outcome", None) == ""
        assert enum_label("outcome", "something_new") == "something_new"
        assert dict(enum_choices("channel"))["visit"] == "外访"
        page = render_template_string(
            "{{ outcome_label('rpc') }}|{{ channel_label('sms') }}|"
            "{{ enum_label('party', 'debtor') }}"
        )
        assert page == "本人接通|短信|本人"
    with app.test_request_context(), force_locale("en"):
        assert outcome_label("rpc") == "Right party contact"
        assert render_template_string("{{ case_status_label('promised') }}") == "Promised"


# The catalog ---------------------------------------------------------------------------------


def test_the_catalog_is_completely_translated():
    catalog = _catalog()
    untranslated = [m.id for m in catalog if m.id and not all(_strings(m))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    assert not catalog.fuzzy, "the header is marked fuzzy: pybabel compile would skip the file"
    assert list(catalog.obsolete) == [], "obsolete (#~) entries: run `make translations`"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check() if errors]
    assert problems == [], "placeholders differ between msgid and msgstr"


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def test_every_message_in_the_code_is_in_the_catalog_and_nothing_else(tmp_path, monkeypatch):
    """What `make translations` extracts (babel.cfg) is exactly what the catalog holds."""
    monkeypatch.chdir(REPO)
    template = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", "babel.cfg", "-o", str(template), "."]
    )
    with template.open("rb") as file:
        extracted = _keys(read_po(file))
    assert ("outcome", "Promise to pay") in extracted, "lazy_pgettext is a keyword"
    assert (None, "Customer no.") in extracted, "lazy_gettext is a keyword"
    assert (None, "Upload and import") in extracted, "templates are extracted"
    in_catalog = _keys(_catalog())
    assert sorted(extracted - in_catalog, key=str) == [], "not in the .po: `make translations`"
    assert sorted(in_catalog - extracted, key=str) == [], "in the .po but no longer in the code"


def test_the_compiled_catalog_is_present_and_matches_the_po():
    assert MO.is_file(), f"{MO} is missing: run `make install`"
    with MO.open("rb") as file:
        compiled = {_entry(m) for m in read_mo(file) if m.id}
    source = {_entry(m) for m in _catalog() if m.id}
    assert compiled == source, "messages.mo is out of date: run `make install`"


def _entry(message) -> tuple:
    def flat(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    return message.context, flat(message.id), flat(message.string)


def test_the_console_refuses_to_start_without_the_compiled_catalog(tmp_path, monkeypatch):
    catalog = tmp_path / "zh" / "LC_MESSAGES"
    catalog.mkdir(parents=True)
    (catalog / "messages.po").write_bytes(PO.read_bytes())
    monkeypatch.setattr(console.app, "TRANSLATIONS_DIR", tmp_path)
    with pytest.raises(RuntimeError, match=r"messages\.mo is missing; run `make install`"):
        console.app.require_compiled_translations({"zh": {}, "en": {}})
    (catalog / "messages.mo").write_bytes(MO.read_bytes())
    console.app.require_compiled_translations({"zh": {}, "en": {}})


def test_the_app_loads_our_catalog_after_flask_appbuilders(app):
    directories = app.extensions["babel"].translation_directories
    assert Path(directories[-1]) == TRANSLATIONS
    assert any(Path(d).resolve().parent.name == "flask_appbuilder" for d in directories[:-1])
