"""Meter readings: how many units a month used, from the reading before it (issue 15).

A register counts up to ``10**digits − 1`` and rolls over to 0. A reading lower than the last
is a rollover only when the register was near its end and the new figure near its start
(less than :data:`ROLLOVER_WINDOW` of the register's range apart); otherwise it is refused as
a probable mistake, with both figures, for staff to check.
"""

from __future__ import annotations

from decimal import Decimal

from domain.errors import ReadingBelowPrevious

ROLLOVER_WINDOW = Decimal("0.1")  # the last tenth of the register and the first tenth


def register_size(digits: int) -> Decimal:
    """How many kWh a register of ``digits`` digits counts before it rolls over."""
    return Decimal(10) ** digits


def consumption(previous: Decimal, current: Decimal, *, digits: int) -> tuple[Decimal, bool]:
    """The units used between ``previous`` and ``current`` and whether the register rolled
    over on the way; ReadingBelowPrevious when ``current`` is lower and not a rollover."""
    if current >= previous:
        return current - previous, False
    size = register_size(digits)
    used = size - previous + current
    if used <= size * ROLLOVER_WINDOW * 2 and previous < size:
        return used, True
    raise ReadingBelowPrevious(previous=previous, current=current)
