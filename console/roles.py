"""The console's roles and what each may do (Flask-AppBuilder built-in roles).

Flask-AppBuilder matches view and permission names with ``re.match``, i.e. by prefix, so every
pattern here is anchored with ``$``. A role not listed here (other than Admin) can do nothing.
"""

from __future__ import annotations

ADMIN = "Admin"
ANALYST = "Analyst"
SUPERVISOR = "Supervisor"
COLLECTOR = "Collector"
AUDITOR = "Auditor"

READ = r"^can_(list|show|get|info)$"
# Every signed-in user may see and edit their own profile and change their own password.
SELF_SERVICE = [
    [r"^MenuApi$", r"^can_get$"],
    [r"^UserDBModelView$", r"^can_userinfo$"],
    [r"^(ResetMyPasswordView|UserInfoEditView)$", r"^can_this_form_(get|post)$"],
]
# Roles that see every case; others see only their own (collector) or their teams' (supervisor).
SEE_ALL_CASES = frozenset({ADMIN, ANALYST, AUDITOR})
# What analysts, supervisors and auditors share: reading cases and the portfolio.
OVERSIGHT = [
    *SELF_SERVICE,
    [r"^(CaseView|CaseApi)$", READ],
    [r"^WorkbenchView$", r"^can_show$"],
    [r"^PortfolioView$", r"^can_overview$"],
    [r"^(Cases|Portfolio)$", r"^menu_access$"],
]

FAB_ROLES: dict[str, list[list[str]]] = {
    ANALYST: OVERSIGHT,
    SUPERVISOR: OVERSIGHT,
    COLLECTOR: [
        *SELF_SERVICE,
        [r"^(CaseView|CaseApi)$", READ],
        [r"^QueueView$", r"^can_(queue|next)$"],
        [r"^WorkbenchView$", r"^can_(show|contact)$"],
        [r"^(Cases|My queue)$", r"^menu_access$"],
    ],
    AUDITOR: OVERSIGHT,
}
