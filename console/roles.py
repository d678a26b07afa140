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

# Re-evaluation runs and isolated versions (console/reevaluation_runs.py): no case data.
REEVALUATION_RUNS = [
    [r"^ReevaluationRunsView$", r"^can_list$"],
    [r"^(Rules|Re-evaluation runs)$", r"^menu_access$"],
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

# Compliance (console/compliance.py). The gate's API: collectors (and agencies through a
# collector-like account) and supervisors ask it about their cases; whoever writes or reviews
# scripts audits them. The auditors' tools — the compliance log, the legal knowledge base, the
# policies and replay — are read by auditors, supervisors (their teams' checks) and analysts;
# analysts write policy drafts, supervisors approve and publish them (never their own).
COMPLIANCE_CHECK = [[r"^ComplianceApi$", r"^can_check$"]]
SCRIPT_AUDIT = [[r"^ComplianceApi$", r"^can_audit_script$"]]
# Collectors read the legal knowledge base: a blocked dial cites its sources, and they should
# be able to read what the law says.
KNOWLEDGE_BASE_READ = [
    [r"^KnowledgeBaseView$", r"^can_read$"],
    [r"^(Compliance|Legal knowledge base)$", r"^menu_access$"],
]
COMPLIANCE_READ = [
    [
        r"^(ComplianceLogView|KnowledgeBaseView|CompliancePoliciesView|ComplianceReplayView)$",
        r"^can_read$",
    ],
    [
        r"^(Compliance|Compliance log|Legal knowledge base|Compliance policies"
        r"|Compliance replay)$",
        r"^menu_access$",
    ],
]

# Named reports (console/reports.py): every role uses the page; which reports each may ask for
# and the rows each holds are the reports' own rule (reports/catalogue.py, data scope).
REPORTS = [
    [r"^ReportsView$", r"^can_(list|run)$"],
    [r"^Reports$", r"^menu_access$"],
]

# The dashboard (console/dashboard.py): every role, each within its own data scope.
DASHBOARD = [
    [r"^DashboardView$", r"^can_read$"],
    [r"^Dashboard$", r"^menu_access$"],
]

# Decision support (console/decision_support.py): propensity models, behaviour patterns, the
# risk forecast, strategy simulation and the champion/challenger readout, for analysts and
# supervisors (and admins); both may queue training and scoring.
DECISION_SUPPORT = [
    [r"^DecisionSupportView$", r"^can_(read|train)$"],
    [r"^(Reports|Decision support)$", r"^menu_access$"],
]

FAB_ROLES: dict[str, list[list[str]]] = {
    # Admin may do everything; as a built-in role that is answered in memory rather than by one
    # database query per menu entry and action (32 per page, bench/console_pages.py).
    ADMIN: [[r"^.*$", r"^.*$"]],
    ANALYST: [
        *DASHBOARD,
        *OVERSIGHT,
        *RULES_READ,
        *DECISION_LOG,
        *REEVALUATION_RUNS,
        [r"^RulesetsView$", r"^can_author$"],
        *PATHS_READ,
        [r"^TreatmentPathsView$", r"^can_author$"],
        *ALERTS_READ,
        *ALERTS_SUMMARY,
        *SETTLEMENTS_READ,
        *SCRIPT_AUDIT,
        *COMPLIANCE_READ,
        [r"^CompliancePoliciesView$", r"^can_author$"],
        *REPORTS,
        *DECISION_SUPPORT,
    ],
    SUPERVISOR: [
        *DASHBOARD,
        *OVERSIGHT,
        *RULES_READ,
        *DECISION_LOG,
        *REEVALUATION_RUNS,
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
        *COMPLIANCE_CHECK,
        *SCRIPT_AUDIT,
        *COMPLIANCE_READ,
        [r"^CompliancePoliciesView$", r"^can_(approve|publish)$"],
        *REPORTS,
        *DECISION_SUPPORT,
    ],
    COLLECTOR: [
        *DASHBOARD,
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
        *COMPLIANCE_CHECK,
        *SCRIPT_AUDIT,
        *KNOWLEDGE_BASE_READ,
        *REPORTS,
    ],
    AUDITOR: [
        *DASHBOARD,
        *OVERSIGHT,
        *RULES_READ,
        *DECISION_LOG,
        *REEVALUATION_RUNS,
        [r"^AuditTrailView$", r"^can_(list|show|export|verify)$"],
        [r"^AuditTrailApi$", READ],
        *PATHS_READ,
        [r"^(Compliance|Audit trail)$", r"^menu_access$"],
        *ALERTS_READ,
        *ALERTS_SUMMARY,
        *SETTLEMENTS_READ,
        *SCRIPT_AUDIT,
        *COMPLIANCE_READ,
        *REPORTS,
    ],
}
