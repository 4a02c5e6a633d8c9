"""Tariffs end to end (issue 15 §2): a tiered tariff imported with ``run_bot.py tariffs
import``, then read by staff in the chat (/tariffs, /tariff <code>), a version added through
/newtariff (with a refused figure on the way, and a new tariff too), a customer put on a
tariff (/settariff, shown on /customer), and a viewer who can read but not add or assign.
The real Application over HTTP against the fake Bot API server, on the real MariaDB."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import run_bot
from domain import tariffs
from fake_telegram import ChatMessage, FakeUser
from tests.conftest import TestDatabase
from tests.e2e_support import Harness, harness, make_staff, running_bot
from tests.factories import fetch_dicts, make_customer

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8501
VIEWER_ID = 8502
HEADER = ",".join(tariffs.CSV_COLUMNS)
# Dates far from today, so what is in force does not depend on when the test runs: the 2021
# version is in force, the 2020 one is history, the 2099 one is still to come.
TIERED = f"""{HEADER}
RES-T,Residential tiered,residential,2020-01-01,0,100,0.40,4.00,5,0,0,,0
RES-T,Residential tiered,residential,2020-01-01,100,,0.90,4.00,5,0,0,,0
RES-T,Residential tiered,residential,2021-01-01,0,50,0.50,5.00,7.5,5,2.00,50.00,10
RES-T,Residential tiered,residential,2021-01-01,50,150,0.75,5.00,7.5,5,2.00,50.00,10
RES-T,Residential tiered,residential,2021-01-01,150,,1.20,5.00,7.5,5,2.00,50.00,10
RES-T,Residential tiered,residential,2099-01-01,0,,2.00,9.00,7.5,0,0,,0
"""


async def say(user: FakeUser, text: str) -> ChatMessage:
    """Send text; return the bot's next message."""
    await user.send(text)
    return await user.wait_for_reply()


async def tap(user: FakeUser, label: str) -> ChatMessage:
    """Press a button; return the message it edited."""
    await user.press(label)
    return await user.wait_for_edit()


async def run_cli(
    command: list[str], test_database: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> int:
    monkeypatch.setenv("DATABASE_URL", test_database.admin.to_url())
    monkeypatch.setenv("CUSTOMER_DATABASE_URL", test_database.customer.to_url())
    # main() runs its own event loop (asyncio.run): in a thread, beside this test's.
    return await asyncio.to_thread(run_bot.main, command)


async def version_count(harness: Harness) -> int:
    rows = await fetch_dicts(harness.admin_db, "SELECT COUNT(*) AS n FROM tariff_versions")
    return int(rows[0]["n"])


async def test_a_tiered_tariff_imported_by_csv_is_shown_and_extended_in_the_chat(
    harness: Harness,
    test_database: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env: the environment says everything
    csv_file = tmp_path / "tariffs.csv"
    csv_file.write_text(TIERED, encoding="utf-8")
    assert await run_cli(["tariffs", "import", str(csv_file)], test_database, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "Imported 3 tariff versions:" in out
    assert "RES-T from 2021-01-01: 3 bands (new tariff)" in out

    customer = await make_customer(harness.admin_db, meter_number="MTR-15001")
    admin = harness.server.user(ADMIN_ID, "Olu")
    await make_staff(harness, ADMIN_ID)
    async with running_bot(harness):
        listed = await say(admin, "/tariffs")
        assert "RES-T" in listed.body and "Jan 2021" in listed.body, listed.body
        assert "Flat default ₦68.50/kWh: 1 customer." in listed.body

        shown = await say(admin, "/tariff res-t")
        body = shown.body
        assert "RES-T · Residential tiered (residential)" in body
        assert "From 01 Jan 2021 · in force" in body
        for line in (
            "• 0–50 kWh: ₦0.50/kWh",
            "• 50–150 kWh: ₦0.75/kWh",
            "• over 150 kWh: ₦1.20/kWh",
            "Fixed charge ₦5.00 a month · tax 7.5%",
            "Late fee: 5% of the overdue balance + ₦2.00, at most ₦50.00, charged 10 days "
            "after the due date",
            "From 01 Jan 2099 · upcoming",
            "From 01 Jan 2020: 0–100 ₦0.40 · 100+ ₦0.90; fixed ₦4.00, tax 5%",
        ):
            assert line in body, (line, body)
        assert "No tariff has the code NOPE" in (await say(admin, "/tariff NOPE")).body

        # /newtariff: the next version of RES-T, one refused figure on the way.
        await say(admin, "/newtariff")
        asked = await tap(admin, "RES-T")
        assert "From which billing month" in asked.body
        assert "already has a version from 01 Jan 2099" in (await say(admin, "2099-01")).body
        bands = await say(admin, "2030-01")
        assert "In force now: 0-50 0.50, 50-150 0.75, 150+ 1.20" in bands.body, bands.body
        refused = await say(admin, "0-50 0.50, 60+ 1.00")
        assert "each must start where the one before ends" in refused.body
        assert "Fixed monthly charge" in (await say(admin, "0-100 0.60, 100+ 1.00")).body
        assert "Tax" in (await say(admin, "3.00")).body
        assert "Late fee" in (await tap(admin, "No tax")).body
        assert "fixed amount on top" in (await say(admin, "5")).body
        assert "most one late fee" in (await tap(admin, "No fixed amount")).body
        assert "How many days" in (await say(admin, "25")).body
        confirm = await say(admin, "7")
        assert "Add this version of RES-T?" in confirm.body
        assert "• over 100 kWh: ₦1.00/kWh" in confirm.body
        # 200 kWh: 60.00 + 100.00 + 3.00 fixed, no tax
        assert "A month of 200 kWh would be billed ₦163.00." in confirm.body
        done = await tap(admin, "Add version")
        assert "✅ Version of RES-T added." in done.body, done.body
        history = await tariffs.history(harness.admin_db, "RES-T")
        added = next(v for v in history.versions if v.effective_from.year == 2030)
        assert tariffs.bands_text(added.bands) == "0-100 0.60, 100+ 1"
        assert (added.late_fee.percent, added.late_fee.cap, added.late_fee.grace_days) == (
            5,
            25,
            7,
        )
        assert "From 01 Jan 2030 · upcoming" in (await say(admin, "/tariff RES-T")).body

        # A new tariff: name and class asked for; no late fee.
        await say(admin, "/newtariff")
        assert "is a new tariff" in (await say(admin, "sme-1")).body
        assert "Which customers" in (await say(admin, "Small business")).body
        await tap(admin, "Commercial")
        await say(admin, "2031-01")
        await say(admin, "0.95")
        await tap(admin, "No fixed charge")
        await say(admin, "7.5")
        confirm = await tap(admin, "No late fee")
        assert "Late fee: no late fee" in confirm.body
        assert "✅ Version of SME-1 added." in (await tap(admin, "Add version")).body
        assert "SME-1" in (await say(admin, "/tariffs")).body

        # Cancel leaves nothing behind.
        before = await version_count(harness)
        await say(admin, "/newtariff")
        await say(admin, "NEW-2")
        cancelled = await tap(admin, "Cancel")
        assert "Cancelled. Nothing was changed." in cancelled.body
        assert await version_count(harness) == before

        # A customer on the tariff, and the card says so.
        card = await say(admin, "/customer MTR-15001")
        assert "Tariff: flat default (₦68.50/kWh)" in card.body
        assigned = await say(admin, "/settariff MTR-15001 res-t")
        assert "is now on tariff RES-T · Residential tiered" in assigned.body
        assert (
            "Tariff: RES-T · Residential tiered" in (await say(admin, "/customer MTR-15001")).body
        )
        assert (
            "No tariff has the code NOPE" in (await say(admin, "/settariff MTR-15001 NOPE")).body
        )
        log = await say(admin, "/audit MTR-15001")
        assert "Tariff changed" in log.body and "Tariff: FLAT → RES-T" in log.body, log.body

    rows = await fetch_dicts(
        harness.admin_db,
        "SELECT tariff_id FROM customers WHERE customer_id = %s",
        customer.customer_id,
    )
    assert rows[0]["tariff_id"] == history.tariff_id

    # What the chat added comes out of the export, and a bad file is refused by line.
    assert await run_cli(["tariffs", "export"], test_database, monkeypatch) == 0
    exported = capsys.readouterr().out
    assert exported.startswith(HEADER + "\n")
    assert (
        "RES-T,Residential tiered,residential,2030-01-01,"
        "100.00,,1.0000,3.00,0.00,5.00,0.00,25.00,7\n"
    ) in exported
    assert (
        "SME-1,Small business,commercial,2031-01-01,0.00,,0.9500,0.00,7.50,0.00,0.00,,0\n"
    ) in exported
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"{HEADER}\nRES-T,Residential tiered,residential,2030-01-01,0,,1,0,0,0,0,,0\n",
        encoding="utf-8",
    )
    versions = await version_count(harness)
    assert await run_cli(["tariffs", "import", str(bad)], test_database, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "line 2: tariff RES-T already has a version from 2030-01-01" in err
    assert err.strip().endswith("1 line of the file has errors; nothing was imported.")
    assert await version_count(harness) == versions
    missing = tmp_path / "missing.csv"
    assert await run_cli(["tariffs", "import", str(missing)], test_database, monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Cannot read" in err


async def test_a_viewer_reads_tariffs_but_cannot_add_or_assign_one(harness: Harness) -> None:
    await tariffs.import_csv(harness.admin_db, TIERED, admin_id=None)
    # Eleven more tariffs (and FUT below): the list takes two pages of ten.
    more = "".join(
        f"T{n:02d},Tariff {n},commercial,2021-01-01,0,,1,0,0,0,0,,0\n" for n in range(1, 12)
    )
    await tariffs.import_csv(harness.admin_db, f"{HEADER}\n{more}", admin_id=None)
    await make_customer(harness.admin_db, meter_number="MTR-15002")
    # A customer put on a tariff whose first version is still to come.
    future = await make_customer(harness.admin_db, meter_number="MTR-15003")
    await tariffs.import_csv(
        harness.admin_db,
        f"{HEADER}\nFUT,Future tariff,residential,2099-01-01,0,,1,0,0,0,0,,0\n",
        admin_id=None,
    )
    await tariffs.assign(harness.admin_db, future.customer_id, "FUT", admin_id=None)
    viewer = harness.server.user(VIEWER_ID, "Vee")
    await make_staff(harness, VIEWER_ID, role="viewer")
    versions = await version_count(harness)
    async with running_bot(harness):
        first = await say(viewer, "/tariffs")
        assert "(page 1 of 2)" in first.body and "RES-T" in first.body
        assert "T08" in first.body and "T09" not in first.body
        second = await tap(viewer, "▶")
        assert second.message_id == first.message_id
        assert "(page 2 of 2)" in second.body and "T09" in second.body
        assert "RES-T" not in second.body
        await viewer.press("T11")  # a code opens the tariff below the list
        assert "T11 · Tariff 11 (commercial)" in (await viewer.wait_for_reply()).body
        assert "From 01 Jan 2021 · in force" in (await say(viewer, "/tariff RES-T")).body
        refused = await say(viewer, "/newtariff")
        assert "cannot change anything" in refused.body
        # The flow did not start: a code typed now is no step of it.
        assert "I'm not sure what you mean" in (await say(viewer, "RES-T")).body
        assert "cannot change anything" in (await say(viewer, "/settariff MTR-15002 RES-T")).body
        card = await say(viewer, "/customer MTR-15003")
        assert "Tariff: FUT · Future tariff (no version in force yet" in card.body, card.body
    assert await version_count(harness) == versions
    on = await fetch_dicts(
        harness.admin_db, "SELECT tariff_id FROM customers WHERE meter_number = 'MTR-15002'"
    )
    assert on[0]["tariff_id"] is None
