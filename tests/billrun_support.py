"""Test helpers for bill runs: a tariff version written from a domain Tariff, a customer put
on it, a meter reading entered (as staff would, with /reading, or by SQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from domain.billing import Tariff
from domain.db import Database


async def make_tariff(db: Database, tariff: Tariff) -> Tariff:
    """Write ``tariff`` (its tariff row if new, this version and its bands); it, with its
    version id."""
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "INSERT INTO tariffs (tariff_code, name, customer_class) VALUES (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE tariff_id = LAST_INSERT_ID(tariff_id)",
            (tariff.code, tariff.name, tariff.customer_class),
        )
        tariff_id = cur.lastrowid
        rule = tariff.late_fee
        await cur.execute(
            "INSERT INTO tariff_versions (tariff_id, effective_from, fixed_charge, tax_percent,"
            " late_fee_percent, late_fee_fixed, late_fee_cap, grace_days)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                tariff_id,
                tariff.effective_from,
                tariff.fixed_charge,
                tariff.tax_percent,
                rule.percent,
                rule.fixed,
                rule.cap,
                rule.grace_days,
            ),
        )
        version_id = int(cur.lastrowid)
        await cur.executemany(
            "INSERT INTO tariff_bands (version_id, band_no, from_kwh, to_kwh, rate_per_kwh)"
            " VALUES (%s, %s, %s, %s, %s)",
            [
                (version_id, number, band.from_kwh, band.to_kwh, band.rate)
                for number, band in enumerate(tariff.bands, start=1)
            ],
        )
        await uow.commit()
    return replace(tariff, version_id=version_id)


async def put_on_tariff(
    db: Database, customer_id: int, code: str | None, *, meter_digits: int | None = None
) -> None:
    """Bill ``customer_id`` on tariff ``code`` (None: the flat default)."""
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "UPDATE customers SET tariff_id = (SELECT tariff_id FROM tariffs"
            " WHERE tariff_code = %s), meter_digits = COALESCE(%s, meter_digits)"
            " WHERE customer_id = %s",
            (code, meter_digits, customer_id),
        )
        await uow.commit()


async def enter_reading(
    db: Database,
    customer_id: int,
    month: date,
    reading: Decimal | str,
    *,
    source: str = "staff",
    status: str = "accepted",
) -> None:
    """A meter reading for ``month``, as staff enter it (another part builds /reading)."""
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "INSERT INTO meter_readings (customer_id, billing_month, reading, source, status)"
            " VALUES (%s, %s, %s, %s, %s)",
            (customer_id, month, Decimal(reading), source, status),
        )
        await uow.commit()
