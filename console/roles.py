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
    [r"^OpenApi$", r"^can_get$"],
    [r"^SwaggerView$", r"^can_show$"],
]
# Roles that see every case; others see only their own (collector) or their teams' (supervisor).
SEE_ALL_CASES = frozenset({ADMIN, ANALYST, AUDITOR})
RECORDS = "CaseView|CustomerView|LoanView|ContactAttemptView|PromiseView|TeamView|CollectorView"
RECORD_APIS = "CaseApi|CustomerApi|LoanApi|ContactAttemptApi|PromiseApi|TeamApi|CollectorApi"
MENUS = (
    "Cases|Cases list|Portfolio|Records|Customers|Loans|Contacts|Promises"
    "|Organisation|Teams|Collectors"
)
# What analysts, supervisors and auditors share: reading cases, records and the portfolio.
OVERSIGHT = [
    *SELF_SERVICE,
    [rf"^({RECORDS}|{RECORD_APIS})$", READ],
    [r"^WorkbenchView$", r"^can_show$"],
    [r"^PortfolioView$", r"^can_overview$"],
    [rf"^({MENUS})$", r"^menu_access$"],
]
# Running imports, following their jobs and reading their error files (raw customer data).
IMPORTING = [
    [r"^ImportView$", r"^can_import$"],
    [r"^(Data|Data import)$", r"^menu_access$"],
]

# Rule authoring (console/rules_authoring.py): reading versions, diffs and exports; writing
# drafts, tests and simulations and submitting them; approving or rejecting; publishing and
# rolling back. Who may approve a particular version (not its author) is the life cycle's rule.
RULES_READ = [
    [r"^RulesetsView$", r"^can_read$"],
    [r"^(Rules|Rulesets)$", r"^menu_access$"],
]
# Treatment paths (console/treatment_paths.py): the same split as rule authoring.
PATHS_READ = [
    [r"^TreatmentPathsView$", r"^can_read$"],
    [r"^(Rules|Treatment paths)$", r"^menu_access$"],
]
# The decision log (console/decision_log.py), scoped to the cases a user may see.
DECISION_LOG = [
    [r"^DecisionLogView$", r"^can_list$"],
    [r"^(Rules|Decision log)$", r"^menu_access$"],
]

# The alert inbox (console/alerts.py), scoped to the cases a user may see: everyone reads;
# collectors and supervisors acknowledge and resolve; supervisors assign; oversight counts.
ALERTS_READ = [
    [r"^AlertsView$", r"^can_list$"],
    [r"^(Cases|Alerts)$", r"^menu_access$"],
]
ALERTS_SUMMARY = [[r"^AlertsView$", r"^can_summary$"]]
ALERTS_ACT = [[r"^AlertsView$", r"^can_act$"]]
# Settlements and payment plans (console/settlements.py), scoped to the cases a user may see:
# every role reads a case's; collectors and supervisors propose and cancel (how much each may
# forgive is casedb.settlements' rule); supervisors approve and reject from their inbox.
SETTLEMENTS_READ = [[r"^(SettlementsView|SettlementApi)$", r"^can_list$"]]
SETTLEMENTS_PROPOSE = [[r"^(SettlementsView|SettlementApi)$", r"^can_propose$"]]
SETTLEMENTS_DECIDE = [
    [r"^(SettlementsView|SettlementApi)$", r"^can_decide$"],
    [r"^(Cases|Settlements)$", r"^menu_access$"],
]

FAB_ROLES: dict[str, list[list[str]]] = {
    # Admin may do everything; as a built-in role that is answered in memory rather than by one
    # database query per menu entry and action (32 per page, bench/console_pages.py).
    ADMIN: [[r"^.*$", r"^.*$"]],
    ANALYST: [
        *OVERSIGHT,
        *RULES_READ,
        *DECISION_LOG,
        [r"^RulesetsView$", r"^can_author$"],
        *PATHS_READ,
        [r"^TreatmentPathsView$", r"^can_author$"],
        *ALERTS_READ,
        *ALERTS_SUMMARY,
        *SETTLEMENTS_READ,
    ],
    SUPERVISOR: [
        *OVERSIGHT,
        *RULES_READ,
        *DECISION_LOG,
        [r"^RulesetsView$", r"^can_(approve|publish)$"],
        *PATHS_READ,
        [r"^TreatmentPathsView$", r"^can_(approve|publish)$"],
        *ALERTS_READ,
        *ALERTS_SUMMARY,
        *ALERTS_ACT,
        *SETTLEMENTS_READ,
        *SETTLEMENTS_PROPOSE,
        *SETTLEMENTS_DECIDE,
        [r"^AlertsView$", r"^can_assign$"],
        [r"^CaseView$", r"^(reassign|change_status|hold|release)$"],
        # Working a case at the end of the road: legal hand-off, write-off (recommend, decide).
        [r"^WorkbenchView$", r"^can_(contact|legal|decide)$"],
        [r"^CaseBulkView$", r"^can_apply$"],
        [r"^(CustomerView|PromiseView|CollectorView)$", r"^can_edit$"],
        [r"^(CustomerApi|CollectorApi)$", r"^can_put$"],
        *IMPORTING,
    ],
    COLLECTOR: [
        *SELF_SERVICE,
        [r"^(CaseView|CaseApi)$", READ],
        [r"^QueueView$", r"^can_(queue|next)$"],
        [r"^WorkbenchView$", r"^can_(show|contact|dial|legal)$"],
        [r"^(Cases|Cases list|My queue)$", r"^menu_access$"],
        *DECISION_LOG,
        *ALERTS_READ,
        *ALERTS_ACT,
        *SETTLEMENTS_READ,
        *SETTLEMENTS_PROPOSE,
    ],
    AUDITOR: [
        *OVERSIGHT,
        *RULES_READ,
        *DECISION_LOG,
        [r"^AuditTrailView$", r"^can_(list|show|export|verify)$"],
        [r"^AuditTrailApi$", READ],
        *PATHS_READ,
        [r"^(Compliance|Audit trail)$", r"^menu_access$"],
        *ALERTS_READ,
        *ALERTS_SUMMARY,
        *SETTLEMENTS_READ,
    ],
}
