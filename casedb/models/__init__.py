"""Typed SQLAlchemy 2 models of the case database; ``Base.metadata`` is what migrations target."""

from casedb.models.alerts import (
    ALERT_SEVERITIES,
    UNRESOLVED_ALERT_STATUSES,
    Alert,
    AlertStatus,
)
from casedb.models.audit import AuditEntry
from casedb.models.base import Base
from casedb.models.cases import (
    CONNECTED_OUTCOMES,
    OPEN_STATUSES,
    CaseStatus,
    Channel,
    CollectionCase,
    ContactAttempt,
    Direction,
    Outcome,
    Party,
    PromiseStatus,
    PromiseToPay,
)
from casedb.models.compliance import ComplianceCheck, CompliancePolicyVersion, DebtorInstruction
from casedb.models.credit import ConsumptionSummary, CreditSnapshot, CreditSource
from casedb.models.customers import (
    Consent,
    ContactKind,
    ContactPoint,
    Customer,
    Relationship,
    ThirdPartyContact,
)
from casedb.models.decisions import (
    PublishedRuleset,
    ReevaluationChunk,
    ReevaluationRun,
    RuleDecision,
    RulesetVersion,
    VersionStatus,
)
from casedb.models.loans import (
    Installment,
    Loan,
    LoanStatus,
    MonthlyStatement,
    Product,
    RepaymentTransaction,
)
from casedb.models.organisation import Collector, Team
from casedb.models.outbox import ChangeEvent, EventKind
from casedb.models.propensity import CasePropensity, PropensityModel
from casedb.models.report_runs import ACTIVE_REPORT_STATUSES, ReportRun, ReportStatus
from casedb.models.snapshots import PortfolioEventCount, PortfolioSnapshot, PortfolioSnapshotRun
from casedb.models.system import ImportBatch, ImportStatus, SystemSetting
from casedb.models.treatment import (
    CaseTask,
    MessageStatus,
    OutboundMessage,
    Settlement,
    SettlementKind,
    SettlementStatus,
    TaskStatus,
    TreatmentPath,
    TreatmentProgress,
)

__all__ = [
    "ACTIVE_REPORT_STATUSES",
    "ALERT_SEVERITIES",
    "CONNECTED_OUTCOMES",
    "OPEN_STATUSES",
    "UNRESOLVED_ALERT_STATUSES",
    "Alert",
    "AlertStatus",
    "AuditEntry",
    "Base",
    "CasePropensity",
    "CaseStatus",
    "CaseTask",
    "ChangeEvent",
    "Channel",
    "CollectionCase",
    "Collector",
    "ComplianceCheck",
    "CompliancePolicyVersion",
    "Consent",
    "ConsumptionSummary",
    "ContactAttempt",
    "ContactKind",
    "ContactPoint",
    "CreditSnapshot",
    "CreditSource",
    "Customer",
    "DebtorInstruction",
    "Direction",
    "EventKind",
    "ImportBatch",
    "ImportStatus",
    "Installment",
    "Loan",
    "LoanStatus",
    "MessageStatus",
    "MonthlyStatement",
    "OutboundMessage",
    "Outcome",
    "Party",
    "PortfolioEventCount",
    "PortfolioSnapshot",
    "PortfolioSnapshotRun",
    "Product",
    "PromiseStatus",
    "PromiseToPay",
    "PropensityModel",
    "PublishedRuleset",
    "ReevaluationChunk",
    "ReevaluationRun",
    "Relationship",
    "RepaymentTransaction",
    "ReportRun",
    "ReportStatus",
    "RuleDecision",
    "RulesetVersion",
    "Settlement",
    "SettlementKind",
    "SettlementStatus",
    "SystemSetting",
    "TaskStatus",
    "Team",
    "ThirdPartyContact",
    "TreatmentPath",
    "TreatmentProgress",
    "VersionStatus",
]
