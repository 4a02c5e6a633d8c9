"""Bulk billing read in chunks (domain.bills.import_bill_file) on a real MariaDB.

Proves: a file bigger than a chunk is issued whole, under one audit entry that each bill
names, each bill with its energy line and in its place in the report totals (added by the
import itself, migration 0023); a repeat, a clash or an unknown meter found in a later chunk
still refuses the whole file (earlier chunks are rolled back) with the right line numbers;
the connection goes back to the pool with its bills moving the totals by trigger again; the
import works where LOAD DATA LOCAL is not allowed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pymysql
import pytest

from domain import admins, audit, bills, report_totals
from domain.db import Database, values_list
from domain.errors import ImportRejected

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


async def test_a_file_of_many_chunks_is_issued_whole_under_one_audit_entry_with_totals(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """95 lines in chunks of 10: 95 bills, one audit entry for the import that every bill
    names (and that /audit shows for each bill and customer), each bill totalling its one
    energy line, totals equal to a recount, and the linked customers' bills handed back for
    their notices exactly as they are stored, in the file's order."""
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
    assert [item.telegram_user_id for item in result.linked] == [
        800 + i for i in range(95) if i % 3 == 0
    ]
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 95
    assert await report_totals.differences(admin_db) == []
    assert await admin_db.fetch_all("lines_drift") == []
    assert await _count(admin_db, "SELECT COUNT(*) FROM bill_lines WHERE kind = 'energy'") == 95
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
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line 2 is repeated on line 25 (another chunk) and line 36 clashes with a bill already
    issued: both are reported by line, and none of the file's bills is kept."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 10)
    await _customers(admin_db, 40)
    await bills.import_bill_file(
        admin_db, lambda: io.StringIO(HEADER + "CHK-0035,2026-10,1,\n"), default_rate=RATE
    )
    lines = [f"CHK-{i:04d},2026-10,{i + 1},\n" for i in range(35) if i != 28]
    lines[23] = "CHK-0000,2026-10,7,\n"  # line 25 repeats line 2
    lines.append("CHK-0035,2026-10,3,\n")  # line 36: billed already
    with pytest.raises(ImportRejected) as caught:
        await bills.import_bill_file(
            admin_db, lambda: io.StringIO(HEADER + "".join(lines)), default_rate=RATE
        )
    assert caught.value.errors == [
        (25, "CHK-0000 2026-10 is already on line 2."),
        (36, "CHK-0035 already has a bill for 2026-10."),
    ]
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 1
    assert await report_totals.differences(admin_db) == []


async def test_an_unknown_meter_in_a_later_chunk_refuses_the_whole_file(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines 2–31 are issued chunk by chunk before line 32's meter is found to be nobody's;
    every line after it is still checked (line 41 repeats line 40), and nothing is kept."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 10)
    await _customers(admin_db, 40)
    lines = [f"CHK-{i:04d},2026-10,{i + 1},\n" for i in range(38)]
    lines[30] = "CHK-9999,2026-10,1,\n"
    lines.append("CHK-0037,2026-09,1,\n")
    lines.append("chk-0037,2026-09,2,\n")
    with pytest.raises(ImportRejected) as caught:
        await bills.import_bill_file(
            admin_db, lambda: io.StringIO(HEADER + "".join(lines)), default_rate=RATE
        )
    assert caught.value.errors == [
        (32, "No customer has meter number CHK-9999."),
        (41, "CHK-0037 2026-09 is already on line 40."),
    ]
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 0
    assert await _count(admin_db, "SELECT COUNT(*) FROM bill_lines") == 0
    assert await report_totals.differences(admin_db) == []


@pytest.mark.timeout(30)
async def test_the_connection_moves_the_totals_by_trigger_again_after_an_import(
    admin_db: Database,
) -> None:
    """The import tells its connection to leave its own bills' totals to it (migration 0023);
    on a pool of one connection, a refused import, a good one, then a bill issued by /newbill
    on the same connection: every total still equals a recount, and no staging is left."""
    await _customers(admin_db, 3)
    single = await Database.connect(admin_db.url, maxsize=1, local_infile=True)
    try:
        with pytest.raises(ImportRejected):
            await bills.import_bill_file(
                single,
                lambda: io.StringIO(HEADER + "CHK-0000,2026-10,1,\nCHK-0404,2026-10,1,\n"),
                default_rate=RATE,
            )
        await bills.import_bill_file(
            single, lambda: io.StringIO(HEADER + "CHK-0001,2026-10,2,\n"), default_rate=RATE
        )
        customer_id = await _count(admin_db, "SELECT MIN(customer_id) FROM customers")
        await bills.create_bill(
            single,
            customer_id=customer_id,
            billing_month=date(2026, 9, 1),
            units_used=Decimal("3"),
            rate_per_unit=RATE,
        )
        async with single.unit_of_work() as uow, uow.connection.cursor() as cur:
            await cur.execute("SELECT @ebb_bulk_totals")
            assert await cur.fetchone() == (None,)
            with pytest.raises(pymysql.err.ProgrammingError) as gone:
                await cur.execute("SELECT COUNT(*) FROM import_lines")
            assert gone.value.args[0] == 1146  # no such table
    finally:
        await single.close()
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 2
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
async def test_a_pool_without_load_data_local_stages_the_lines_by_insert(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the connection may not send files (a pool opened without ``local_infile``, or
    a server with it off), the staging table is filled by multi-row INSERTs instead: the
    same bills, lines and totals, and the same errors by line."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 10)
    await _customers(admin_db, 25)
    text = HEADER + "".join(f"CHK-{i:04d},2026-10,{i + 1},\n" for i in range(25))
    plain = await Database.connect(admin_db.url, maxsize=1)
    try:
        with pytest.raises(ImportRejected) as caught:
            await bills.import_bill_file(
                plain, lambda: io.StringIO(text + "CHK-0003,2026-10,9,\n"), default_rate=RATE
            )
        assert caught.value.errors == [(27, "CHK-0003 2026-10 is already on line 5.")]
        result = await bills.import_bill_file(plain, lambda: io.StringIO(text), default_rate=RATE)
    finally:
        await plain.close()
    assert result.count == 25
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 25
    assert await admin_db.fetch_all("lines_drift") == []
    assert await report_totals.differences(admin_db) == []


async def test_a_multi_row_insert_takes_only_a_values_list(admin_db: Database) -> None:
    """The unescaped INSERT text can only come from values_list(): plain text is refused
    before anything is sent."""
    async with admin_db.unit_of_work() as uow:
        with pytest.raises(TypeError):
            await uow.insert_values("ledger_insert_line", "(1); DROP TABLE bills; --")  # type: ignore[arg-type]
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


@pytest.mark.timeout(60)
async def test_a_file_of_one_line_repeated_stops_at_the_error_limit(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A known meter and month repeated 30,000 times: the first line would be issued, every
    other is a repeat of it; the file is refused with the first MAX_IMPORT_ERRORS of them
    (the repeats are found in one pass per chunk, not row against row) and read no further
    than needed."""
    monkeypatch.setattr(bills, "IMPORT_CHUNK", 1_000)
    await _customers(admin_db, 1)
    read: list[str] = []

    def open_lines() -> Iterator[str]:
        for line in [HEADER] + ["CHK-0000,2026-10,1,\n"] * 30_000:
            read.append(line)
            yield line

    with pytest.raises(ImportRejected) as caught:
        await bills.import_bill_file(admin_db, open_lines, default_rate=RATE)
    assert len(read) < 3_000  # the chunk that showed the errors, and the one read ahead
    assert caught.value.errors == [
        (number, "CHK-0000 2026-10 is already on line 2.")
        for number in range(3, 3 + bills.MAX_IMPORT_ERRORS)
    ]
    assert await _count(admin_db, "SELECT COUNT(*) FROM bills") == 0
