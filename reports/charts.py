"""Charts drawn on the server with matplotlib (Agg, no display, no pyplot state): SVG or PNG.

- :func:`team_recovery_bars`: recovery rate per team (bars);
- :func:`overdue_trend_line`: overdue rate by count and by balance per snapshot day (lines);
- :func:`aging_stacked_bars`: open cases per DPD bucket per team or collector (stacked bars);
- :func:`roll_rate_heatmap`: the bucket-to-bucket roll rates of a month pair (heat map);
- :func:`league_chart`: collected per collector, best first, with the recovery rate (bars).

Every function takes a metric result (``reports.metrics``) and the texts to print (titles and
axis labels, so the console passes them translated) and returns the image bytes; a result with
nothing to show gives a chart saying so (its ``note``). Chinese text renders with a CJK font
when one is installed (Debian's ``fonts-noto-cjk``: "Noto Sans CJK SC", found through
matplotlib's font manager); SVG text is drawn as paths, so the browser needs no font and loads
nothing from anywhere.

:class:`VersionedCache` keeps rendered charts (and the metrics behind them) by metric, scope,
data version (``reports.metrics.data_version``), language and format: a fact added moves the
version and the next request draws afresh — no nightly batch, no stale numbers.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import cache
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates, font_manager, ticker
from matplotlib.figure import Figure

from reports.metrics import Aging, LeagueTable, OverdueTrend, RecoveryRate, RollRates

# Fonts with Chinese glyphs, most preferred first (Debian: fonts-noto-cjk, fonts-wqy-*).
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
)
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
BUCKET_COLOURS = ("#4caf50", "#ffc107", "#ff9800", "#f44336", "#8e24aa", "#5d4037", "#37474f")
BLUE, RED = "#1f77b4", "#d62728"
DEFAULT_TEXTS = {
    "team_recovery": "Recovery rate by team",
    "overdue_trend": "Overdue rate",
    "by_count": "by count",
    "by_balance": "by balance",
    "aging": "Open cases by DPD bucket",
    "roll_rates": "Roll rates",
    "from": "from",
    "to": "to",
    "league": "Collected by collector",
    "recovery": "recovery",
    "none": "(none)",
    "no_data": "No data",
}


# File names of CJK font files, for a font cache made before the fonts were installed.
CJK_FILES = ("cjk", "wqy", "sourcehansans", "simhei", "msyh")


@cache
def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, or None. Matplotlib caches the fonts
    it found on first use; fonts installed since are looked for on disk and added."""
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:
        for path in font_manager.findSystemFonts():
            if any(part in path.lower().replace("-", "") for part in CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        installed = {entry.name for entry in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FONTS if name in installed), None)
    return found


def _rc() -> dict[str, Any]:
    family = [name for name in (cjk_font(), "DejaVu Sans") if name]
    return {
        "font.family": "sans-serif",
        "font.sans-serif": family,
        # CJK fonts have no U+2212 minus sign.
        "axes.unicode_minus": False,
        "svg.fonttype": "path",
        "svg.hashsalt": "collection-tracker",
        "font.size": 9,
    }


def _texts(texts: Mapping[str, str] | None) -> dict[str, str]:
    return {**DEFAULT_TEXTS, **(texts or {})}


# Matplotlib's settings (rcParams) are one global of the process: a console serving charts on
# several threads draws one at a time, or one thread's fonts would leak into another's chart.
_DRAWING = threading.Lock()


def _render(draw: Callable[[Figure], None], fmt: str, size: tuple[float, float]) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    with _DRAWING, matplotlib.rc_context(_rc()):
        figure = Figure(figsize=size, dpi=100, layout="constrained")
        draw(figure)
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {}
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def _nothing(figure: Figure, title: str, note: str | None, texts: Mapping[str, str]) -> None:
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.axis("off")
    axes.text(0.5, 0.5, note or texts["no_data"], ha="center", va="center", wrap=True)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def team_recovery_bars(
    result: RecoveryRate, texts: Mapping[str, str] | None = None, fmt: str = "svg"
) -> bytes:
    """Bars: the recovery rate of each team (``recovery_rate(..., group_by="team")``)."""
    t = _texts(texts)
    groups = [g for g in result.groups if g.overdue_at_entry]

    def draw(figure: Figure) -> None:
        if not groups:
            _nothing(figure, t["team_recovery"], result.note, t)
            return
        axes = figure.add_subplot()
        names = [g.group or t["none"] for g in groups]
        rates = [g.rate or 0.0 for g in groups]
        bars = axes.bar(names, rates, color=BLUE)
        axes.bar_label(bars, labels=[_percent(g.rate) for g in groups], padding=2)
        axes.set_title(t["team_recovery"])
        axes.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
        axes.set_ylim(0, max(max(rates) * 1.2, 0.05))
        axes.tick_params(axis="x", labelrotation=20)

    return _render(draw, fmt, (6.4, 3.4))


def overdue_trend_line(
    result: OverdueTrend, texts: Mapping[str, str] | None = None, fmt: str = "svg"
) -> bytes:
    """Lines: the overdue rate by count and by balance of every snapshot day in the period."""
    t = _texts(texts)
    points = [p for p in result.points if p.accounts]

    def draw(figure: Figure) -> None:
        if not points:
            _nothing(figure, t["overdue_trend"], result.note, t)
            return
        axes = figure.add_subplot()
        days = [p.as_of for p in points]
        axes.plot(days, [p.by_count for p in points], marker="o", color=RED, label=t["by_count"])
        axes.plot(
            days, [p.by_balance for p in points], marker="s", color=BLUE, label=t["by_balance"]
        )
        axes.set_title(t["overdue_trend"])
        axes.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
        axes.set_ylim(bottom=0)
        axes.legend(loc="best")
        axes.grid(alpha=0.3)
        if len(days) <= 12:
            axes.set_xticks(days, [day.isoformat() for day in days])
        else:
            locator = dates.AutoDateLocator()
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
        figure.autofmt_xdate()

    return _render(draw, fmt, (6.4, 3.4))


def aging_stacked_bars(
    result: Aging, texts: Mapping[str, str] | None = None, fmt: str = "svg"
) -> bytes:
    """Stacked bars: open cases per DPD bucket (stacked) per group (``dpd_bucket_aging(...,
    group_by=...)``), or one bar for the whole scope without groups."""
    t = _texts(texts)
    buckets = [b.bucket for b in result.buckets if b.bucket != "M0"]
    groups = dict(result.groups) or (
        {"": {b.bucket: b.cases for b in result.buckets}} if result.buckets else {}
    )

    def draw(figure: Figure) -> None:
        if not any(sum(per.values()) for per in groups.values()):
            _nothing(figure, t["aging"], result.note, t)
            return
        axes = figure.add_subplot()
        names = [name if name != "-" else t["none"] for name in groups]
        bottom = [0] * len(names)
        for index, bucket in enumerate(buckets):
            heights = [per.get(bucket, 0) for per in groups.values()]
            axes.bar(
                names,
                heights,
                bottom=bottom,
                label=bucket,
                color=BUCKET_COLOURS[(index + 1) % len(BUCKET_COLOURS)],
            )
            bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
        axes.set_title(t["aging"])
        axes.legend(loc="upper right", ncols=min(len(buckets), 5), fontsize=8)
        axes.set_ylim(0, max(bottom) * 1.2)
        axes.tick_params(axis="x", labelrotation=20)

    return _render(draw, fmt, (6.4, 3.4))


def roll_rate_heatmap(
    result: RollRates,
    pair: str | None = None,
    texts: Mapping[str, str] | None = None,
    fmt: str = "svg",
) -> bytes:
    """Heat map: the share of each bucket's accounts (rows: from) found in each bucket (columns:
    to) a month later, for ``pair`` (default: the last month pair of the period)."""
    t = _texts(texts)
    pair = pair or (result.pairs[-1] if result.pairs else None)

    def draw(figure: Figure) -> None:
        if pair is None or pair not in result.counts:
            _nothing(figure, t["roll_rates"], result.note, t)
            return
        buckets = list(result.buckets)
        matrix = [[result.rate(pair, i, j) or 0.0 for j in buckets] for i in buckets]
        axes = figure.add_subplot()
        image = axes.imshow(matrix, cmap="OrRd", vmin=0, vmax=1, aspect="auto")
        axes.set_xticks(range(len(buckets)), buckets)
        axes.set_yticks(range(len(buckets)), buckets)
        axes.set_xlabel(t["to"])
        axes.set_ylabel(t["from"])
        axes.set_title(f"{t['roll_rates']} {pair}")
        for row, source in enumerate(buckets):
            total = sum(result.counts[pair][source].values())
            for column in range(len(buckets)):
                if total:
                    value = matrix[row][column]
                    colour = "white" if value > 0.6 else "black"
                    axes.text(column, row, f"{value:.0%}", ha="center", va="center", color=colour)
        figure.colorbar(image, ax=axes, format=ticker.PercentFormatter(1.0))

    return _render(draw, fmt, (6.4, 3.4))


def league_chart(
    result: LeagueTable,
    texts: Mapping[str, str] | None = None,
    fmt: str = "svg",
    top: int = 15,
) -> bytes:
    """Horizontal bars: collected per collector (the ``top`` first of the league table), with
    each one's recovery rate written beside the bar."""
    t = _texts(texts)
    rows = list(result.rows[:top])

    def draw(figure: Figure) -> None:
        if not rows:
            _nothing(figure, t["league"], result.note, t)
            return
        axes = figure.add_subplot()
        names = [f"{row.rank}. {row.name}" for row in reversed(rows)]
        amounts = [float(row.collected) for row in reversed(rows)]
        bars = axes.barh(names, amounts, color=BLUE)
        axes.bar_label(
            bars,
            labels=[f"{t['recovery']} {_percent(row.recovery_rate)}" for row in reversed(rows)],
            padding=3,
            fontsize=8,
        )
        axes.set_title(t["league"])
        axes.set_xlim(0, max(max(amounts) * 1.35, 1))
        axes.xaxis.set_major_locator(ticker.MaxNLocator(nbins=5, integer=True))
        axes.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))

    return _render(draw, fmt, (6.4, max(2.4, 0.32 * len(rows) + 1.2)))


# --- the cache -------------------------------------------------------------------------------


class VersionedCache:
    """A bounded, thread-safe cache of computed values by key (least recently used goes first).

    Keys carry the data version, so an entry is never stale: when facts change the key changes
    and the old entry ages out."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        value = compute()
        with self._lock:
            self.misses += 1
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


def cache_key(*parts: Any) -> str:
    """A short digest of the parts (chart, scope key, data version, language, format)."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


CHARTS = VersionedCache()
METRICS = VersionedCache()


def chart_names() -> Sequence[str]:
    return ("team_recovery", "overdue_trend", "aging", "roll_rates", "league")
