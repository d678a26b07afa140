"""Teams and collectors: who works which cases, with what skills and how many at most."""

from __future__ import annotations

from typing import Any

from flask_appbuilder import ModelView
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from wtforms import BooleanField, StringField
from wtforms.validators import InputRequired

from casedb.models import Collector, Team
from console.scope import TeamScope


class CommaSeparatedField(StringField):
    """A list of short codes (skills, languages, regions) typed as ``legal, hardship``."""

    widget = BS3TextFieldWidget()

    def _value(self) -> str:
        return ", ".join(self.data or [])

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = valuelist[0] if valuelist else ""
        codes = (code.strip() for code in text.replace("，", ",").split(","))
        self.data = list(dict.fromkeys(code for code in codes if code))


def active_field() -> BooleanField:
    """Flask-AppBuilder makes a NOT NULL boolean "required", so unticking it would fail."""
    return BooleanField("启用 Active", default=True)


class TeamView(ModelView):
    datamodel = SQLAInterface(Team)
    route_base = "/teams"
    base_filters = [["id", TeamScope, lambda: None]]
    base_order = ("code", "asc")
    list_columns = ["code", "name", "region", "supervisor_username", "active"]
    show_columns = list_columns
    add_columns = list_columns
    edit_columns = ["name", "region", "supervisor_username", "active"]
    search_columns = ["code", "name", "region", "supervisor_username", "active"]
    add_form_extra_fields = edit_form_extra_fields = {"active": active_field()}
    label_columns = {
        "code": "团队代码 Code",
        "name": "团队 Team",
        "region": "地区 Region",
        "supervisor_username": "主管账号 Supervisor login",
        "active": "启用 Active",
    }

    def pre_add(self, item: Team) -> None:
        _require_login(self, item.supervisor_username)

    def pre_update(self, item: Team) -> None:
        _require_login(self, item.supervisor_username)


class CollectorView(ModelView):
    """Collectors; a supervisor edits skills, languages, regions and capacity in their teams."""

    datamodel = SQLAInterface(Collector)
    route_base = "/collectors"
    base_filters = [["team_id", TeamScope, lambda: None]]
    base_order = ("code", "asc")
    list_columns = ["code", "name", "team.name", "username", "skills", "capacity", "active"]
    show_columns = [
        "code",
        "name",
        "team.name",
        "username",
        "skills",
        "languages",
        "regions",
        "capacity",
        "active",
    ]
    add_columns = [
        "code",
        "name",
        "team",
        "username",
        "skills",
        "languages",
        "regions",
        "capacity",
        "active",
    ]
    edit_columns = ["name", "team", "skills", "languages", "regions", "capacity", "active"]
    search_columns = ["code", "name", "team", "username", "capacity", "active"]
    # A collector always belongs to a team the editor manages: no orphaning out of scope.
    validators_columns = {"team": [InputRequired()]}
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "team": [["id", TeamScope, lambda: None]]
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "skills": CommaSeparatedField("技能 Skills", description="e.g. legal, hardship"),
        "languages": CommaSeparatedField("语言 Languages", description="e.g. zh, yue, en"),
        "regions": CommaSeparatedField("地区 Regions", description="e.g. 广东, 上海"),
        "active": active_field(),
    }
    label_columns = {
        "code": "工号 Code",
        "name": "姓名 Name",
        "team": "团队 Team",
        "team.name": "团队 Team",
        "username": "登录账号 Login",
        "skills": "技能 Skills",
        "languages": "语言 Languages",
        "regions": "地区 Regions",
        "capacity": "容量 Capacity",
        "active": "启用 Active",
    }

    def pre_add(self, item: Collector) -> None:
        _require_login(self, item.username)
        _require_capacity(item)

    def pre_update(self, item: Collector) -> None:
        _require_capacity(item)


def _require_login(view: ModelView, username: str | None) -> None:
    """A login named here must exist, or scope and queues would silently match nobody."""
    if (
        username
        and view.appbuilder.session.scalar(select(User.id).where(User.username == username)) is None
    ):
        raise ValueError(f"no console login named {username}: create the user first")


def _require_capacity(item: Collector) -> None:
    if item.capacity is None or not 0 <= item.capacity <= 5000:
        raise ValueError("capacity: a whole number of open cases from 0 to 5,000")
