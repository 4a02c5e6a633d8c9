"""The monthly usage trend as a PNG chart (matplotlib's object API on the Agg canvas).

No pyplot: its global figure registry is not thread-safe and leaks figures in a long-running
bot. Each call builds its own Figure, so charts can be drawn from worker threads.
"""

from __future__ import annotations

import io
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


_SCALES = ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k"))


def compact_money(value: float, symbol: str) -> str:
    """An axis label: ``₦950``, ``₦12.5k``, ``₦1.25M``."""
    sign = "-" if value < 0 else ""
    size = abs(value)
    scale, suffix = next(((s, x) for s, x in _SCALES if size >= s), (1, ""))
    number = f"{size / scale:,.2f}".rstrip("0").rstrip(".")
    return f"{sign}{symbol}{number}{suffix}"


def trend_chart_png(months: Sequence[TrendMonth], *, currency: Currency, title: str) -> bytes:
    """Units billed as bars (left axis), amounts billed and collected as lines (right axis)."""
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    units_axis = figure.add_subplot()
    units_axis.set_title(title)
    if not months:
        units_axis.text(0.5, 0.5, "No billing months to show", ha="center", va="center")
        units_axis.set_axis_off()
        return _png(figure)

    positions = list(range(len(months)))
    labels = [month_label(month.billing_month) for month in months]
    units_axis.bar(
        positions, [float(m.units) for m in months], color=UNITS_COLOR, label="Units (kWh)"
    )
    units_axis.set_ylabel("Units billed (kWh)")
    units_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    crowded = len(months) > 8
    units_axis.set_xticks(
        positions, labels, rotation=45 if crowded else 0, ha="right" if crowded else "center"
    )
    units_axis.set_xlim(-0.6, len(months) - 0.4)

    money_axis = units_axis.twinx()
    money_axis.plot(
        positions,
        [_float(m.billed) for m in months],
        color=BILLED_COLOR,
        marker="o",
        linewidth=2,
        label="Billed",
    )
    money_axis.plot(
        positions,
        [_float(m.collected) for m in months],
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

    handles = units_axis.get_legend_handles_labels()
    more = money_axis.get_legend_handles_labels()
    money_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
    figure.tight_layout()
    return _png(figure)


def _float(amount: Decimal) -> float:
    return float(amount)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No bbox_inches="tight": it would change the pixel size. No Software tag: same data,
    # same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
