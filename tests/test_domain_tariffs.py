"""Tariffs managed by staff (issue 15 §2): the tariff CSV (all or nothing, errors by line, a
version already present refused), the round trip export → import, adding a version, the
version in force for a billing month, and putting a customer on a tariff. Real MariaDB,
except the tests of the parsers at the end."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from domain import audit, tariffs
from domain.billing import Band, LateFeeRule, Tariff
from domain.db import Database
from domain.errors import (
    CustomerNotFound,
    ImportRejected,
    InvalidTariff,
    TariffNotFound,
    TariffVersionExists,
)
from tests.conftest import empty_tables
from tests.factories import fetch_dicts, make_clerk, make_customer

HEADER = ",".join(tariffs.CSV_COLUMNS)
# A three-band residential tariff, then its 2026-07 version with dearer upper bands and a
# capped late fee; a one-band commercial tariff.
TIERED = f"""{HEADER}
RES-T,Residential tiered,residential,2026-01-01,0,50,0.50,5.00,7.5,0,0,,0
RES-T,Residential tiered,residential,2026-01-01,50,150,0.75,5.00,7.5,0,0,,0
RES-T,Residential tiered,residential,2026-01-01,150,,1.20,5.00,7.5,0,0,,0
RES-T,Residential tiered,residential,2026-07-01,0,50,0.50,6.00,7.5,5,2.00,50.00,10
RES-T,Residential tiered,residential,2026-07-01,50,150,0.80,6.00,7.5,5,2.00,50.00,10
RES-T,Residential tiered,residential,2026-07-01,150,,1.30,6.00,7.5,5,2.00,50.00,10
COM-1,"Commercial, flat",commercial,2026-01-01,0,,0.95,20.00,7.5,0,0,,0
"""
DEFAULT_RATE = Decimal("68.50")


async def count(db: Database, table: str) -> int:
    rows = await fetch_dicts(db, f"SELECT COUNT(*) AS n FROM {table}")
    return int(rows[0]["n"])


async def test_a_csv_adds_every_version_with_its_bands_and_one_audit_entry_each(
    admin_db: Database,
) -> None:
    imported = await tariffs.import_csv(admin_db, TIERED, admin_id=None)
    assert [(v.code, v.effective_from) for v in imported.versions] == [
        ("RES-T", date(2026, 1, 1)),
        ("RES-T", date(2026, 7, 1)),
        ("COM-1", date(2026, 1, 1)),
    ]
    assert imported.new_tariffs == ["RES-T", "COM-1"]
    res = await tariffs.history(admin_db, "res-t")  # any case
    assert (res.code, res.name, res.customer_class) == (
        "RES-T",
        "Residential tiered",
        "residential",
    )
    newest, first = res.versions
    assert first.bands == (
        Band(Decimal("0.00"), Decimal("50.00"), Decimal("0.5000")),
        Band(Decimal("50.00"), Decimal("150.00"), Decimal("0.7500")),
        Band(Decimal("150.00"), None, Decimal("1.2000")),
    )
    assert (first.fixed_charge, first.tax_percent) == (Decimal("5.00"), Decimal("7.50"))
    assert first.late_fee == LateFeeRule(0, Decimal("0.00"), Decimal("0.00"), None)
    assert newest.late_fee == LateFeeRule(10, Decimal("5.00"), Decimal("2.00"), Decimal("50.00"))
    # 200 kWh on the first version: 25.00 + 75.00 + 60.00 + 5.00 fixed = 165.00, tax 12.38
    assert [line.amount for line in first.charges(Decimal(200))] == [
        Decimal("25.00"),
        Decimal("75.00"),
        Decimal("60.00"),
        Decimal("5.00"),
        Decimal("12.38"),
    ]
    entries = [e for e in await audit.entries(admin_db) if e.action == "tariff.version"]
    assert len(entries) == 3
    assert {e.entity_id for e in entries} == {str(v.version_id) for v in imported.versions}
    assert all(e.after is not None and e.after["source"] == "csv" for e in entries)


async def test_a_file_with_errors_writes_nothing_and_lists_each_by_line(
    admin_db: Database,
) -> None:
    bad = f"""{HEADER}
GOOD,Good tariff,residential,2026-01-01,0,,0.50,0,0,0,0,,0
GAP,Gap tariff,residential,2026-01-01,0,50,0.50,0,0,0,0,,0
GAP,Gap tariff,residential,2026-01-01,60,,0.75,0,0,0,0,,0
NUM,Bad numbers,residential,2026-01-01,0,,0.12345,0,0,0,0,,0
MIX,Mixed rows,residential,2026-01-01,0,100,0.50,1.00,0,0,0,,0
MIX,Mixed rows,residential,2026-01-01,100,,0.60,2.00,0,0,0,,0
TAX,Too much tax,residential,2026-01-01,0,,0.50,0,150,0,0,,0
MID,Mid month,residential,2026-01-15,0,,0.50,0,0,0,0,,0
OPEN,Open early,residential,2026-01-01,0,,0.50,0,0,0,0,,0
OPEN,Open early,residential,2026-01-01,100,,0.60,0,0,0,0,,0
SHORT,Short row,residential
"""
    with pytest.raises(ImportRejected) as caught:
        await tariffs.import_csv(admin_db, bad, admin_id=None)
    by_line = dict(caught.value.errors)
    assert sorted(by_line) == [4, 5, 7, 8, 9, 10, 12], caught.value.errors
    assert "band_from_kwh 60" in by_line[4] and "start at 50" in by_line[4]
    assert "rate_per_kwh '0.12345'" in by_line[5]
    assert "fixed_charge '2.00' differs from line 6" in by_line[7]
    assert "tax_percent '150'" in by_line[8]
    assert "effective_from '2026-01-15'" in by_line[9]
    assert "only the last band may be open" in by_line[10]
    assert "3 columns, expected 13" in by_line[12]
    for table in ("tariffs", "tariff_versions", "tariff_bands", "audit_log"):
        assert await count(admin_db, table) == 0, table


async def test_a_version_already_present_is_refused_never_overwritten(
    admin_db: Database,
) -> None:
    await tariffs.import_csv(admin_db, TIERED, admin_id=None)
    again = f"""{HEADER}
RES-T,Residential tiered,residential,2027-01-01,0,,0.99,0,0,0,0,,0
RES-T,Residential tiered,residential,2026-07-01,0,,9.99,0,0,0,0,,0
COM-1,Commercial renamed,commercial,2027-01-01,0,,0.95,0,0,0,0,,0
"""
    with pytest.raises(ImportRejected) as caught:
        await tariffs.import_csv(admin_db, again, admin_id=None)
    by_line = dict(caught.value.errors)
    assert sorted(by_line) == [3, 4]
    assert "already has a version from 2026-07-01" in by_line[3]
    assert "tariff COM-1 is 'Commercial, flat'" in by_line[4]
    # Not even line 2's new version went in, and July's bands are as they were.
    res = await tariffs.history(admin_db, "RES-T")
    assert [v.effective_from for v in res.versions] == [date(2026, 7, 1), date(2026, 1, 1)]
    assert res.versions[0].bands[0].rate == Decimal("0.5000")
    assert await count(admin_db, "tariff_versions") == 3

    with pytest.raises(TariffVersionExists) as refused:
        await tariffs.add_version(admin_db, res.versions[0], admin_id=None)
    assert (refused.value.code, refused.value.effective_from) == ("RES-T", date(2026, 7, 1))
    assert await count(admin_db, "tariff_versions") == 3


async def test_export_then_import_into_an_empty_database_gives_the_same_tariffs(
    admin_db: Database,
) -> None:
    await tariffs.import_csv(admin_db, TIERED, admin_id=None)
    exported = await tariffs.export_csv(admin_db)
    assert exported.versions == 3
    lines = exported.text.splitlines()
    assert lines[0] == HEADER
    assert lines[1] == (
        'COM-1,"Commercial, flat",commercial,2026-01-01,0.00,,0.9500,20.00,7.50,0.00,0.00,,0'
    )
    assert lines[4] == (
        "RES-T,Residential tiered,residential,2026-01-01,150.00,,1.2000,5.00,7.50,0.00,0.00,,0"
    )
    before = await tariffs.history(admin_db, "RES-T")

    await empty_tables(admin_db)
    imported = await tariffs.import_csv(admin_db, exported.text, admin_id=None)
    assert len(imported.versions) == 3
    assert (await tariffs.export_csv(admin_db)).text == exported.text
    after = await tariffs.history(admin_db, "RES-T")
    assert [replace(v, version_id=None) for v in after.versions] == [
        replace(v, version_id=None) for v in before.versions
    ]


async def test_a_bill_uses_the_version_in_force_on_its_months_first_day(
    admin_db: Database,
) -> None:
    await tariffs.import_csv(admin_db, TIERED, admin_id=None)
    customer = await make_customer(admin_db)
    clerk = await make_clerk(admin_db)
    before = await tariffs.assign(admin_db, customer.customer_id, "res-t", admin_id=clerk.admin_id)
    assert before is None  # the flat default

    async def code_and_from(month: date) -> tuple[str, date]:
        async with admin_db.unit_of_work() as uow:
            found = await tariffs.in_force(
                uow, customer.customer_id, month, default_rate=DEFAULT_RATE
            )
        return found.code, found.effective_from

    assert (await code_and_from(date(2025, 12, 1)))[0] == "FLAT"  # nothing in force yet
    assert await code_and_from(date(2026, 1, 1)) == ("RES-T", date(2026, 1, 1))
    assert await code_and_from(date(2026, 6, 1)) == ("RES-T", date(2026, 1, 1))
    assert await code_and_from(date(2026, 7, 1)) == ("RES-T", date(2026, 7, 1))
    assert await code_and_from(date(2027, 3, 1)) == ("RES-T", date(2026, 7, 1))

    listed = await tariffs.list_tariffs(admin_db, today=date(2026, 3, 10))
    assert [(t.code, t.in_force_from, t.versions, t.customers) for t in listed.tariffs] == [
        ("COM-1", date(2026, 1, 1), 1, 0),
        ("RES-T", date(2026, 1, 1), 2, 1),
    ]
    assert listed.flat_customers == 0
    history = await tariffs.history(admin_db, "RES-T")
    assert history.in_force(date(2026, 8, 1)) == history.versions[0]
    assert history.in_force(date(2025, 8, 1)) is None


async def test_a_customer_is_put_on_a_tariff_and_back_on_the_flat_default_audited(
    admin_db: Database,
) -> None:
    await tariffs.import_csv(admin_db, TIERED, admin_id=None)
    customer = await make_customer(admin_db)
    clerk = await make_clerk(admin_db)
    today = date(2026, 8, 1)
    assert await tariffs.of_customer(admin_db, customer.customer_id, today=today) is None

    await tariffs.assign(admin_db, customer.customer_id, "COM-1", admin_id=clerk.admin_id)
    on = await tariffs.of_customer(admin_db, customer.customer_id, today=today)
    assert on is not None and (on.code, on.in_force_from) == ("COM-1", date(2026, 1, 1))
    previous = await tariffs.assign(admin_db, customer.customer_id, None, admin_id=None)
    assert previous == "COM-1"
    assert await tariffs.of_customer(admin_db, customer.customer_id, today=today) is None
    # Setting what is already set changes nothing and writes no entry.
    await tariffs.assign(admin_db, customer.customer_id, None, admin_id=None)

    changes = [
        (e.before, e.after)
        for e in await audit.entries(admin_db, customer_id=customer.customer_id)
        if e.action == "customer.tariff"
    ]
    assert changes == [
        ({"tariff": "COM-1"}, {"tariff": "FLAT"}),
        ({"tariff": "FLAT"}, {"tariff": "COM-1"}),
    ]
    with pytest.raises(TariffNotFound):
        await tariffs.assign(admin_db, customer.customer_id, "NOPE", admin_id=None)
    with pytest.raises(CustomerNotFound):
        await tariffs.assign(admin_db, customer.customer_id + 999, "COM-1", admin_id=None)


async def test_a_version_added_in_the_chat_creates_its_tariff_and_is_audited(
    admin_db: Database,
) -> None:
    clerk = await make_clerk(admin_db)
    version = Tariff(
        code="SME",
        name="Small business",
        customer_class="commercial",
        effective_from=date(2026, 9, 1),
        bands=tariffs.bands_from_text("0-100 0.80, 100+ 1.10"),
        fixed_charge=Decimal("12.00"),
        tax_percent=Decimal("7.5"),
    )
    added = await tariffs.add_version(admin_db, version, admin_id=clerk.admin_id)
    assert added.version_id is not None
    (stored,) = (await tariffs.history(admin_db, "SME")).versions
    assert stored.bands == version.bands and stored.version_id == added.version_id
    (entry,) = [e for e in await audit.entries(admin_db) if e.action == "tariff.version"]
    assert entry.admin_name == clerk.admin_name and entry.after is not None
    assert entry.after["source"] == "chat" and entry.after["tariff"] == "SME"


# ---------------------------------------------------------------------------------------------
# Reading what staff type (no database)


def test_bands_are_read_as_staff_type_them() -> None:
    assert tariffs.bands_from_text("0-50 0.50, 50-150 ₦0.75, 150+ 1.20") == (
        Band(Decimal(0), Decimal(50), Decimal("0.50")),
        Band(Decimal(50), Decimal(150), Decimal("0.75")),
        Band(Decimal(150), None, Decimal("1.20")),
    )
    assert tariffs.bands_from_text("68.50") == (Band(Decimal(0), None, Decimal("68.50")),)
    refusals = {
        "0-50 0.50, 60+ 0.75": "band_from_kwh",
        "0-50 0.50": "band_to_kwh",
        "0+ 0.50, 50+ 0.75": "band_to_kwh",
        "0-50 0.123456, 50+ 1": "rate_per_kwh",
        "cheap then dear": "bands",
        "": "bands",
    }
    for typed, field in refusals.items():
        with pytest.raises(InvalidTariff) as caught:
            tariffs.bands_from_text(typed)
        assert caught.value.field == field, typed


def test_figures_are_refused_not_rounded() -> None:
    assert tariffs.figure("7.5", "tax_percent") == Decimal("7.5")
    assert tariffs.figure("0", "fixed_charge") == Decimal(0)
    for text, field in (("7.505", "tax_percent"), ("-1", "fixed_charge"), ("1e3", "rate_per_kwh")):
        with pytest.raises(InvalidTariff):
            tariffs.figure(text, field)
    assert tariffs.effective_from("2026-07") == date(2026, 7, 1)
    with pytest.raises(InvalidTariff):
        tariffs.effective_from("2026-07-02")
    assert tariffs.tariff_code(" res-t ") == "RES-T"
    for code in ("FLAT", "two words", "x" * 33):
        with pytest.raises(InvalidTariff):
            tariffs.tariff_code(code)


def test_a_file_without_the_exact_header_is_refused_on_line_1() -> None:
    with pytest.raises(ImportRejected) as caught:
        tariffs.read_csv("code,name\nRES,Res\n")
    assert caught.value.errors[0][0] == 1
    with pytest.raises(ImportRejected) as empty:
        tariffs.read_csv(HEADER + "\n")
    assert empty.value.errors == [(2, "The file has a header but no tariffs.")]


def test_bands_are_written_back_as_they_are_typed() -> None:
    typed = "0-50 0.50, 50-150 0.75, 150+ 1.2025"
    bands = tariffs.bands_from_text(typed)
    assert tariffs.bands_text(bands) == typed
    stored = (Band(Decimal("0.00"), Decimal("50.00"), Decimal("0.5000")),)
    assert tariffs.bands_text(stored) == "0-50 0.50"


def test_rows_of_one_version_may_write_its_day_either_way() -> None:
    rows = (
        f"{HEADER}\n"
        "RES-T,Residential tiered,residential,2026-07,0,50,0.50,0,0,0,0,,0\n"
        "res-t,Residential tiered,residential,2026-07-01,50,,0.75,0,0,0,0,,0\n"
    )
    ((line, version),) = tariffs.read_csv(rows)
    assert line == 2 and version.effective_from == date(2026, 7, 1)
    assert tariffs.bands_text(version.bands) == "0-50 0.50, 50+ 0.75"
