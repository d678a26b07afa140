"""Teams and collectors: who works which cases, with what skills and how many at most."""

from __future__ import annotations

from typing import Any

from flask_appbuilder import ModelView
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext, lazy_gettext
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
    return BooleanField(lazy_gettext("Active"), default=True)


class TeamView(ModelView):
    datamodel = SQLAInterface(Team)
    route_base = "/teams"
    base_filters = [["id", TeamScope, lambda: None]]
    base_order = ("code", "asc")
    list_columns = ["code", "name", "region", "agency", "supervisor_username", "active"]
    show_columns = list_columns
    add_columns = list_columns
    edit_columns = ["name", "region", "agency", "supervisor_username", "active"]
    search_columns = ["code", "name", "region", "agency", "supervisor_username", "active"]
    add_form_extra_fields = edit_form_extra_fields = {"active": active_field()}
    list_title = lazy_gettext("Teams")
    show_title = lazy_gettext("Team")
    add_title = lazy_gettext("Add a team")
    edit_title = lazy_gettext("Edit team")
    label_columns = {
        "code": lazy_gettext("Team code"),
        "name": lazy_gettext("Team"),
        "region": lazy_gettext("Region"),
        "agency": lazy_gettext("Collection agency"),
        "supervisor_username": lazy_gettext("Supervisor login"),
        "active": lazy_gettext("Active"),
    }
    description_columns = {
        "agency": lazy_gettext(
            "The outside collection agency this team works for; empty for the lender's own staff. "
            "The compliance gate counts each agency's calls apart under Regulation F and together "
            "with the lender's under the CN rules."
        )
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
        "skills": CommaSeparatedField(
            lazy_gettext("Skills"), description=lazy_gettext("e.g. legal, hardship")
        ),
        "languages": CommaSeparatedField(
            lazy_gettext("Languages"), description=lazy_gettext("e.g. zh, yue, en")
        ),
        "regions": CommaSeparatedField(
            lazy_gettext("Regions"), description=lazy_gettext("e.g. Guangdong, Shanghai")
        ),
        "active": active_field(),
    }
    list_title = lazy_gettext("Collectors")
    show_title = lazy_gettext("Collector")
    add_title = lazy_gettext("Add a collector")
    edit_title = lazy_gettext("Edit collector")
    label_columns = {
        "code": lazy_gettext("Collector code"),
        "name": lazy_gettext("Full name"),
        "team": lazy_gettext("Team"),
        "team.name": lazy_gettext("Team"),
        "username": lazy_gettext("Login name"),
        "skills": lazy_gettext("Skills"),
        "languages": lazy_gettext("Languages"),
        "regions": lazy_gettext("Regions"),
        "capacity": lazy_gettext("Capacity"),
        "active": lazy_gettext("Active"),
    }
    description_columns = {
        "capacity": lazy_gettext("Most open cases at once, from 0 to 5,000"),
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
        raise ValueError(
            gettext("no console login named %(username)s: create the user first", username=username)
        )


def _require_capacity(item: Collector) -> None:
    if item.capacity is None or not 0 <= item.capacity <= 5000:
        raise ValueError(gettext("capacity: a whole number of open cases from 0 to 5,000"))
