"""The monthly usage trend as a PNG chart (matplotlib's object API on the Agg canvas).

No pyplot: its global figure registry is not thread-safe and leaks figures in a long-running
bot. Each call builds its own Figure, so charts can be drawn from worker threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from decimal import Decimal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from domain.money import Currency
from domain.reports import TrendMonth
from handlers.render.formatting import month_label

WIDTH_PX = 1000
HEIGHT_PX = 600
DPI = 100
UNITS_COLOR = "#9ecae1"
BILLED_COLOR = "#d95f02"
COLLECTED_COLOR = "#1b9e77"
RATE_COLOR = "#7570b3"
EMPTY_COLOR = "#969696"
RATE_PANEL_RATIO = (3, 1)  # the amounts above, the collection rate below


_SCALES = ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k"))


def compact_money(value: float, symbol: str) -> str:
    """An axis label: ``₦950``, ``₦12.5k``, ``₦1.25M``."""
    sign = "-" if value < 0 else ""
    size = abs(value)
    scale, suffix = next(((s, x) for s, x in _SCALES if size >= s), (1, ""))
    number = f"{size / scale:,.2f}".rstrip("0").rstrip(".")
    return f"{sign}{symbol}{number}{suffix}"


def trend_chart_png(months: Sequence[TrendMonth], *, currency: Currency, title: str) -> bytes:
    """The trend chart (:func:`trend_figure`) as PNG bytes of WIDTH_PX × HEIGHT_PX."""
    return _png(trend_figure(months, currency=currency, title=title))


def trend_figure(months: Sequence[TrendMonth], *, currency: Currency, title: str) -> Figure:
    """Above: units billed as bars (left axis), amounts billed and collected as lines (right
    axis). Below: the share of each month's bills collected so far, in percent.

    A month without bills (the month still open, say) has no bar and no points: the lines
    stop there rather than drop to zero as if billing had collapsed.
    """
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    if not months:
        empty = figure.add_subplot()
        empty.set_title(title)
        empty.text(0.5, 0.5, "No billing months to show", ha="center", va="center")
        empty.set_axis_off()
        return figure

    units_axis, rate_axis = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": RATE_PANEL_RATIO}
    )
    units_axis.set_title(title)
    positions = list(range(len(months)))
    labels = [month_label(month.billing_month) for month in months]
    units_axis.bar(
        positions, [_figure(m, m.units) for m in months], color=UNITS_COLOR, label="Units (kWh)"
    )
    units_axis.set_ylabel("Units billed (kWh)")
    units_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    units_axis.set_xlim(-0.6, len(months) - 0.4)

    money_axis = units_axis.twinx()
    money_axis.plot(
        positions,
        [_figure(m, m.billed) for m in months],
        color=BILLED_COLOR,
        marker="o",
        linewidth=2,
        label="Billed",
    )
    money_axis.plot(
        positions,
        [_figure(m, m.collected) for m in months],
        color=COLLECTED_COLOR,
        marker="o",
        linewidth=2,
        label="Collected",
    )
    money_axis.set_ylabel(f"Amount ({currency.code})")
    money_axis.set_ylim(bottom=0)
    money_axis.yaxis.set_major_formatter(
        FuncFormatter(lambda value, _: compact_money(value, currency.symbol))
    )
    units_axis.set_ylim(bottom=0)
    units_axis.grid(axis="y", alpha=0.3)
    for position, month in zip(positions, months, strict=True):
        if not month.bills:
            units_axis.text(
                position, 0, "no bills", ha="center", va="bottom", color=EMPTY_COLOR, fontsize=9
            )
    handles = units_axis.get_legend_handles_labels()
    more = money_axis.get_legend_handles_labels()
    money_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")

    rates = [_rate(m) for m in months]
    rate_axis.plot(
        positions, rates, color=RATE_COLOR, marker="o", linewidth=2, label="Collected %"
    )
    rate_axis.set_ylabel("Collected %")
    top = max((r for r in rates if not math.isnan(r)), default=100.0)
    rate_axis.set_ylim(0, max(100.0, top) * 1.08)
    rate_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}%"))
    rate_axis.grid(axis="y", alpha=0.3)
    crowded = len(months) > 8
    rate_axis.set_xticks(
        positions, labels, rotation=45 if crowded else 0, ha="right" if crowded else "center"
    )
    figure.tight_layout()
    return figure


def _figure(month: TrendMonth, amount: Decimal) -> float:
    """A month's figure as drawn: NaN (nothing drawn) for a month with no bills."""
    return float(amount) if month.bills else math.nan


def _rate(month: TrendMonth) -> float:
    rate = month.collection_rate
    return math.nan if rate is None else float(rate)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No bbox_inches="tight": it would change the pixel size. No Software tag: same data,
    # same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
