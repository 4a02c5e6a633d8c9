"""Tariffs in the database: which version a customer's bill for a month is computed with.

A customer without a tariff is billed on the flat tariff made from ``DEFAULT_TARIFF``
(:func:`domain.billing.flat_tariff`); a bill keeps the version it was computed with
(``bills.tariff_version_id``; NULL for the flat tariff, whose rate the bill itself keeps).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from domain.billing import Band, LateFeeRule, Tariff, flat_tariff
from domain.db import UnitOfWork

Row = dict[str, Any]


def tariff_from_rows(version: Row, bands: list[Row]) -> Tariff:
    """A tariff version from its row (tariff_version / customer_tariff_version) and bands."""
    cap = version["late_fee_cap"]
    return Tariff(
        code=version["tariff_code"],
        name=version["name"],
        customer_class=version["customer_class"],
        effective_from=version["effective_from"],
        bands=tuple(
            Band(
                Decimal(band["from_kwh"]),
                None if band["to_kwh"] is None else Decimal(band["to_kwh"]),
                Decimal(band["rate_per_kwh"]),
            )
            for band in bands
        ),
        fixed_charge=Decimal(version["fixed_charge"]),
        tax_percent=Decimal(version["tax_percent"]),
        late_fee=LateFeeRule(
            grace_days=int(version["grace_days"]),
            percent=Decimal(version["late_fee_percent"]),
            fixed=Decimal(version["late_fee_fixed"]),
            cap=None if cap is None else Decimal(cap),
        ),
        version_id=int(version["version_id"]),
    )


async def version(uow: UnitOfWork, version_id: int) -> Tariff | None:
    """One tariff version by id; None if there is none."""
    row = await uow.fetch_one("tariff_version", {"version_id": version_id})
    if row is None:
        return None
    bands = await uow.fetch_all("tariff_version_bands", {"version_id": version_id})
    return tariff_from_rows(row, bands)


async def in_force(
    uow: UnitOfWork, customer_id: int, billing_month: date, *, default_rate: Decimal
) -> Tariff:
    """The tariff a customer's bill for ``billing_month`` is computed with: the version of
    their tariff in force on the month's first day, else the flat ``default_rate``."""
    row = await uow.fetch_one(
        "customer_tariff_version", {"customer_id": customer_id, "billing_month": billing_month}
    )
    if row is None:
        return flat_tariff(default_rate)
    bands = await uow.fetch_all("tariff_version_bands", {"version_id": row["version_id"]})
    return tariff_from_rows(row, bands)


async def of_bill(uow: UnitOfWork, tariff_version_id: int | None, rate: Decimal) -> Tariff:
    """The tariff an issued bill was computed with (flat at its own rate when it has none)."""
    if tariff_version_id is not None:
        found = await version(uow, tariff_version_id)
        if found is not None:
            return found
    return flat_tariff(rate)
