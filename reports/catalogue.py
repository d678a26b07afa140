"""The named reports, by name: what the console's Reports page, ``run.py report NAME`` and the
schedules can ask for.

=====================  ============================================================  =========
name                   what                                                          shape
=====================  ============================================================  =========
cases                  case list export: any filter of the case list                 list
aging                  open cases and overdue amount by DPD bucket                   chart
roll_rates             bucket-to-bucket transitions month over month                 chart
team_performance       overdue rate, recovery rate, collection cycle per team        chart
collector_performance  the same per collector                                        chart
promises               promises to pay falling due, kept rate                        list
strategy               strategy (champion/challenger arm) effectiveness              chart
compliance_log         the contact gate's log                                        list
audit_trail            the audit trail                                               list
alerts                 alerts by type and each alert                                 list
=====================  ============================================================  =========
"""

from __future__ import annotations

from reports.analyses import ANALYSES
from reports.labels import say
from reports.listings import LISTINGS
from reports.parameters import ReportError
from reports.report import Report, Requester

REPORTS: dict[str, Report] = {
    report.name: report for report in (cls() for cls in (LISTINGS[0], *ANALYSES, *LISTINGS[1:]))
}
FORMATS = ("xlsx", "json", "png")


def get_report(name: str) -> Report:
    """The report called ``name``, or a :class:`ReportError` listing the names there are."""
    report = REPORTS.get(name)
    if report is None:
        raise ReportError(
            (
                "unknown report {name!r}; the reports are: {names}",
                "没有报表 {name!r}；可用报表：{names}",
            ),
            param="report",
            name=name,
            names=", ".join(REPORTS),
        )
    return report


def available_to(requester: Requester) -> list[Report]:
    """The reports ``requester``'s roles may ask for, in catalogue order."""
    return [report for report in REPORTS.values() if report.allowed(requester)]


def check_format(report: Report, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ReportError(
            (
                "unknown format {fmt!r}; one of xlsx, json, png",
                "不支持的格式 {fmt!r}；可选 xlsx、json、png",
            ),
            param="format",
            fmt=fmt,
        )
    if fmt == "png" and not report.chart:
        raise ReportError(
            (
                "the {report} report has no chart: ask for xlsx or json",
                "报表 {report} 没有图表：请选择 xlsx 或 json",
            ),
            param="format",
            report=report.name,
        )


def describe(language: str) -> list[tuple[str, str, str]]:
    """(name, title, description) of every report."""
    return [
        (report.name, say(report.title, language), say(report.description, language))
        for report in REPORTS.values()
    ]
