"""Bulk billing read in chunks (domain.bills.import_bill_file) on a real MariaDB.

Proves: a file bigger than a chunk is issued whole, under one audit entry that each bill
names, each bill in its place in the report totals (another writer's bill among its ids is
not counted as the import's); a repeat or a clash found in a later chunk still refuses the
whole file (earlier chunks are rolled back) with the right line numbers; the file is read
as it is imported, and opened again when the transaction is retried.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain import admins, audit, bills, report_totals
from domain.db import Database, UnitOfWork, values_list
from domain.errors import ImportRejected
from domain.models import Bill

RATE = Decimal("68.50")
HEADER = "meter_number,billing_month,units_used,rate_per_unit\n"


async def _customers(db: Database, count: int) -> None:
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.executemany(
            "INSERT INTO customers (meter_number, full_name, address, telegram_user_id) "
            "VALUES (%s, %s, 'Somewhere', %s)",
            [
                (f"CHK-{i:04d}", f"Chunked {i}", 800 + i if i % 3 == 0 else None)
                for i in range(count)
            ],
        )
        await uow.commit()


async def _count(db: Database, sql: str) -> int:
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(sql)
        row = await cur.fetchone()
        return int(row[0])


@pytest.fixture(params=["consecutive ids", "ids read back"])
def id_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways an import finds the bills it has just written: by their consecutive ids
    (MariaDB's default auto-increment lock mode) or read back and matched by customer and
    month (the way taken where ids may interleave, as on MySQL 8)."""
    if request.param != "consecutive ids":
        real = bills._issued_bills

        async def interleaving(
            uow: UnitOfWork, good: Any, wanted: list[int], first_id: int, state: Any
        ) -> list[Bill]:
            return await real(uow, good, wanted, first_id, replace(state, consecutive_ids=False))

        monkeypatch.setattr(bills, "_issued_bills", interleaving)
    return str(request.param)


async def test_a_file_of_many_chunks_is_issued_whole_under_one_audit_entry_with_totals(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch, id_path: str
) -> None:
    """95 lines in chunks of 10: 95 bills, one audit entry for the import that every bill
    names (and that /audit shows for each bill and customer), totals equal to a recount, and
    the linked customers' bills handed back for their notices exactly as they are stored."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 10)
    await _customers(admin_db, 95)
    admin = await admins.create_admin(
        admin_db, admin_name="Importer", email="imp@example.com", password="long enough pw"
    )
    text = HEADER + "".join(f"CHK-{i:04d},2026-10,{i + 1}.50,\n" for i in range(95))
    opened: list[int] = []

    def open_lines() -> io.StringIO:
        opened.append(1)
        return io.StringIO(text)

    result = await bills.import_bill_file(
        admin_db, open_lines, default_rate=RATE, admin_id=admin.admin_id
    )
    assert opened == [1]
    assert result.count == 95
    assert result.total == sum(
        (bills.bill_total(Decimal(f"{i + 1}.50"), RATE) for i in range(95)), Decimal(0)
    )
    assert result.bills == []  # not asked for: only the linked ones are kept
    assert sorted(item.telegram_user_id or 0 for item in result.linked) == [
        800 + i for i in range(95) if i % 3 == 0
    ]
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 95
    assert await report_totals.differences(admin_db) == []
    for item in result.linked:
        assert await bills.get(admin_db, item.bill.bill_id) == item.bill
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "SELECT audit_id, admin_id, entity_type, entity_id, after_data FROM audit_log"
        )
        entries = await cur.fetchall()
        await cur.execute("SELECT DISTINCT import_audit_id FROM bills")
        named = await cur.fetchall()
    assert len(entries) == 1
    audit_id, admin_id, entity_type, entity_id, after = entries[0]
    assert (admin_id, entity_type, entity_id) == (admin.admin_id, "import", str(audit_id))
    assert json.loads(after) == {"bills": 95, "total": str(result.total)}
    assert named == ((audit_id,),)
    some = result.linked[-1].bill
    for shown in (
        await audit.entries(admin_db, bill_id=some.bill_id),
        await audit.entries(admin_db, customer_id=some.customer_id),
    ):
        assert [(e.action, e.entity_type, e.entity_id, e.admin_name) for e in shown] == [
            ("bill.import", "bill", str(some.bill_id), "Importer")
        ]
        assert shown[0].after == {"import": audit_id}


async def test_a_repeat_or_a_clash_in_a_later_chunk_refuses_the_whole_file(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch, id_path: str
) -> None:
    """Line 2 is repeated on line 25 (another chunk) and line 30 clashes with a bill already
    issued: both are reported by line, and none of the file's bills is kept."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 10)
    await _customers(admin_db, 40)
    await bills.import_bills(admin_db, HEADER + "CHK-0035,2026-10,1,\n", default_rate=RATE)
    lines = [f"CHK-{i:04d},2026-10,{i + 1},\n" for i in range(35) if i != 28]
    lines[23] = "CHK-0000,2026-10,7,\n"  # line 25 repeats line 2
    lines.append("CHK-0035,2026-10,3,\n")  # line 36: billed already
    with pytest.raises(ImportRejected) as caught:
        await bills.import_bill_file(
            admin_db, lambda: io.StringIO(HEADER + "".join(lines)), default_rate=RATE
        )
    assert [(n, "earlier line" in m or "already has" in m) for n, m in caught.value.errors] == [
        (25, True),
        (36, True),
    ]
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 1
    assert await report_totals.differences(admin_db) == []


def test_a_values_list_holds_typed_values_only() -> None:
    """Bulk inserts are written without escaping, so anything but integers, finite Decimals
    and dates is refused (text from a file never gets there unchecked)."""
    from datetime import datetime


    assert values_list(
        [(7, date(2026, 10, 1), Decimal("1.50")), (8, date(2026, 11, 1), Decimal("1E+2"))]
    ) == ("(7,'2026-10-01',1.50),(8,'2026-11-01',100)")
    for bad in ("1); DROP TABLE bills; --", True, 1.5, Decimal("NaN"), datetime(2026, 1, 1)):
        with pytest.raises(TypeError):
            values_list([(bad,)])  # type: ignore[list-item]


@pytest.mark.timeout(30)
async def test_a_pool_of_one_connection_imports_without_looking_ahead(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next chunk is normally looked up on a second connection while the last one is
    written; with only one connection in the pool the import still completes (in turn)."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 10)
    await _customers(admin_db, 25)
    text = HEADER + "".join(f"CHK-{i:04d},2026-10,{i + 1},\n" for i in range(25))
    single = await Database.connect(admin_db.url, maxsize=1)
    try:
        result = await bills.import_bill_file(single, lambda: io.StringIO(text), default_rate=RATE)
    finally:
        await single.close()
    assert result.count == 25
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 25
    assert await report_totals.differences(admin_db) == []


async def test_a_multi_row_insert_takes_only_a_values_list(admin_db: Database) -> None:
    """The unescaped INSERT text can only come from values_list(): plain text is refused
    before anything is sent."""
    async with admin_db.unit_of_work() as uow:
        with pytest.raises(TypeError):
            await uow.insert_values("insert_bills_values", "(1); DROP TABLE bills; --")  # type: ignore[arg-type]
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 0


async def test_a_chunk_of_long_names_is_looked_up_whole(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's customers come back as one JSON document, which MariaDB would cut off at
    1 MiB by default: 3,000 customers with 200-character names (1.5 MB) are all found, names
    intact."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 3_000)
    name = "É" * 190
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.executemany(
            "INSERT INTO customers (meter_number, full_name, address, telegram_user_id) "
            "VALUES (%s, %s, 'Somewhere', %s)",
            [(f"LNG-{i:05d}", f"{name} {i:08d}", 5_000 + i) for i in range(3_000)],
        )
        await uow.commit()
    text = HEADER + "".join(f"LNG-{i:05d},2026-10,1,\n" for i in range(3_000))
    result = await bills.import_bill_file(admin_db, lambda: io.StringIO(text), default_rate=RATE)
    assert result.count == 3_000
    assert sorted(item.full_name for item in result.linked) == [
        f"{name} {i:08d}" for i in range(3_000)
    ]
