"""A chart-shaped report as one PNG image (matplotlib, server-side: no browser, no internet).

Every table of the result that has a chart becomes one panel, drawn as its workbook chart is
(bars or lines, a series per column, percentages as percentages), stacked top to bottom under the
report's title. Chinese labels need a CJK font: the first of :data:`CJK_FONTS` installed is used
(Debian's ``fonts-noto-cjk``), else matplotlib's default, which draws them as boxes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.labels import say
from reports.result import BAR, PERCENT, ReportResult, Table

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
)


def _font_family() -> list[str]:
    from matplotlib import font_manager  # noqa: PLC0415

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in CJK_FONTS if name in installed] + ["DejaVu Sans"]


def write_png(result: ReportResult, path: Path, title: str, language: str) -> int:
    """Draw the result's charts into ``path``; returns the rows charted."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415
    from matplotlib.ticker import PercentFormatter  # noqa: PLC0415

    tables = [t for t in result.tables if t.chart is not None]
    with matplotlib.rc_context(
        {
            "font.family": "sans-serif",
            "font.sans-serif": _font_family(),
            "axes.unicode_minus": False,
        }
    ):
        figure, axes = pyplot.subplots(
            max(len(tables), 1), 1, figsize=(10, 4.2 * max(len(tables), 1)), squeeze=False
        )
        figure.suptitle(title, fontsize=14)
        rows = 0
        for axis, table in zip(axes[:, 0], tables, strict=False):
            rows += _draw(axis, table, language, PercentFormatter)
        if not tables or rows == 0:
            axis = axes[0, 0]
            message = say(result.empty_message or ("No data", "没有数据"), language)
            axis.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, wrap=True)
            axis.set_axis_off()
        figure.tight_layout(rect=(0, 0, 1, 0.96))
        figure.savefig(path, format="png", dpi=110)
        pyplot.close(figure)
    return rows


def _draw(axis: Any, table: Table, language: str, percent_formatter: Any) -> int:
    spec = table.chart
    assert spec is not None
    rows = list(table.rows)
    table.rows = rows  # the chart reads them once more if the result is reused
    if not rows:
        axis.set_title(say(spec.title, language))
        axis.text(0.5, 0.5, say(("No data", "没有数据"), language), ha="center", va="center")
        axis.set_axis_off()
        return 0
    category = table.column_index(spec.category)
    labels = [str(row[category]) for row in rows]
    positions = list(range(len(rows)))
    width = 0.8 / max(len(spec.series), 1)
    bottoms = [0.0] * len(rows)
    kinds = {c.key: c for c in table.columns}
    for number, key in enumerate(spec.series):
        index = table.column_index(key)
        values = [float(row[index]) if row[index] is not None else 0.0 for row in rows]
        name = say(kinds[key].label, language)
        if spec.kind == BAR and spec.stacked:
            axis.bar(positions, values, 0.6, bottom=bottoms, label=name)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        elif spec.kind == BAR:
            offset = (number - (len(spec.series) - 1) / 2) * width
            axis.bar([p + offset for p in positions], values, width, label=name)
        else:
            axis.plot(positions, values, marker="o", label=name)
    axis.set_xticks(positions)
    axis.set_xticklabels(labels, rotation=30 if len(labels) > 6 else 0, ha="right")
    axis.set_title(say(spec.title, language))
    if spec.y_title:
        axis.set_ylabel(say(spec.y_title, language))
    if all(kinds[key].kind == PERCENT for key in spec.series):
        axis.yaxis.set_major_formatter(percent_formatter(1.0))
    if len(spec.series) > 1:
        axis.legend()
    axis.grid(axis="y", alpha=0.3)
    return len(rows)
