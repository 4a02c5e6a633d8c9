"""Tariffs with a late-fee rule put straight into the test database (the late-fee tests need
one; staff make tariffs in the chat or by CSV, which these tests do not exercise)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from domain import tariffs
from domain.billing import Tariff
from domain.db import Database
from domain.models import Customer

_codes = itertools.count(1)


async def make_tariff(
    db: Database,
    *,
    bands: tuple[tuple[str, str | None, str], ...] = (("0", None, "2.0000"),),
    fixed_charge: str = "0",
    tax_percent: str = "0",
    late_fee_percent: str = "0",
    late_fee_fixed: str = "0",
    late_fee_cap: str | None = None,
    grace_days: int = 0,
    effective_from: str = "2020-01-01",
    code: str | None = None,
) -> tuple[int, Tariff]:
    """A tariff with one version (``bands`` as (from, to or None, rate)): its id and the
    version as domain.tariffs reads it back."""
    code = code or f"LF{next(_codes):04d}"
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "INSERT INTO tariffs (tariff_code, name, customer_class)"
                " VALUES (%s, %s, 'residential')",
                (code, f"Tariff {code}"),
            )
            tariff_id = int(cur.lastrowid)
            await cur.execute(
                "INSERT INTO tariff_versions (tariff_id, effective_from, fixed_charge,"
                " tax_percent, late_fee_percent, late_fee_fixed, late_fee_cap, grace_days)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    tariff_id,
                    effective_from,
                    Decimal(fixed_charge),
                    Decimal(tax_percent),
                    Decimal(late_fee_percent),
                    Decimal(late_fee_fixed),
                    None if late_fee_cap is None else Decimal(late_fee_cap),
                    grace_days,
                ),
            )
            version_id = int(cur.lastrowid)
            for band_no, (low, high, rate) in enumerate(bands):
                await cur.execute(
                    "INSERT INTO tariff_bands (version_id, band_no, from_kwh, to_kwh,"
                    " rate_per_kwh) VALUES (%s, %s, %s, %s, %s)",
                    (version_id, band_no, Decimal(low), high and Decimal(high), Decimal(rate)),
                )
        version = await tariffs.version(uow, version_id)
        await uow.commit()
    assert version is not None
    return tariff_id, version


async def assign_tariff(db: Database, customer: Customer, tariff_id: int) -> None:
    """Put ``customer`` on the tariff ``tariff_id``."""
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "UPDATE customers SET tariff_id = %s WHERE customer_id = %s",
                (tariff_id, customer.customer_id),
            )
        await uow.commit()
