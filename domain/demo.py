"""Demo data for trying the bot: a few customers with bills and payments, two admins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from domain import admins, bills, customers, payments
from domain.db import Database
from domain.errors import DuplicateAdmin
from domain.models import Admin, Customer, PaymentMethod
from domain.passwords import hash_password, verify_password
from domain.reports import month_add


@dataclass(frozen=True)
class DemoLogin:
    who: str
    login: str  # meter number or email
    password: str | None  # None: changed since the demo data was made
    role: str


DEMO_CUSTOMERS = (
    ("MTR-10001", "Amina Bello", "12 Marina Road, Lagos", "+2348010000001", "amina@example.com"),
    ("MTR-10002", "Ngozi Ọkafọ́r & <Sons>", "4 Broad Street, Lagos", "+2348010000002", None),
    ("MTR-10003", "Tunde Adeyemi", "7 Allen Avenue, Ikeja", None, "tunde@example.com"),
)
DEMO_CUSTOMER_PASSWORD = "demo-customer-1"  # noqa: S105 - published demo login
DEMO_ADMINS = (
    ("Demo Admin", "admin@demo.example", "admin", "demo-admin-pass"),
    ("Demo Viewer", "viewer@demo.example", "viewer", "demo-viewer-pass"),
)


async def seed_demo(
    db: Database, *, today: date, tariff: Decimal, due_days: int
) -> list[DemoLogin]:
    """Create the demo data unless it is there already; return who can log in and how (a
    demo account whose password was changed since is returned without one)."""
    logins: list[DemoLogin] = []
    stored: dict[int, str | None] = {}  # index in logins -> the hash of an account made before
    for name, admin_email, role, password in DEMO_ADMINS:
        try:
            await admins.create_admin(
                db, admin_name=name, email=admin_email, password=password, role=role
            )
        except DuplicateAdmin:
            row = await db.fetch_one("get_admin_by_email", {"email": admin_email})
            stored[len(logins)] = row["password_hash"] if row else None
        logins.append(DemoLogin(name, admin_email, password, role))

    # The demo's payments are transfers the demo admin confirmed (money is never declared).
    clerk = await admins.find_by_email(db, DEMO_ADMINS[0][1])
    assert clerk is not None
    password_hash = await hash_password(DEMO_CUSTOMER_PASSWORD)
    for index, (meter, name, address, phone, email) in enumerate(DEMO_CUSTOMERS):
        existing = await db.fetch_one("get_customer_by_meter", {"meter_number": meter})
        if existing is not None:
            stored[len(logins)] = existing["password_hash"]
        logins.append(DemoLogin(name, meter, DEMO_CUSTOMER_PASSWORD, "customer"))
        if existing is not None:
            continue
        customer = await customers.add_customer(
            db,
            meter_number=meter,
            full_name=name,
            address=address,
            phone_number=phone,
            email=email,
        )
        await customers.set_password_hash(db, customer.customer_id, password_hash)
        this_month = today.replace(day=1)
        for back in range(3, 0, -1):
            month = month_add(this_month, -back)
            bill = await bills.create_bill(
                db,
                customer_id=customer.customer_id,
                billing_month=month,
                units_used=Decimal(180 + 40 * index + 15 * back),
                rate_per_unit=tariff,
                due_days=due_days,
            )
            if back == 3:  # the oldest bill is paid in full
                amount = bill.total_amount
            elif back == 2 and index != 2:  # the middle one partly
                amount = (bill.total_amount / 2).quantize(Decimal("0.01"))
            else:
                continue
            await payments.pay_bill(
                db,
                bill_id=bill.bill_id,
                amount=amount,
                method=PaymentMethod.BANK_TRANSFER,
                idempotency_key=f"demo-{meter}-{month:%Y%m}",
                admin_id=clerk.admin_id,
            )
    return await _without_changed_passwords(logins, stored)


async def _without_changed_passwords(
    logins: list[DemoLogin], stored: dict[int, str | None]
) -> list[DemoLogin]:
    """Drop the published password of each account made before whose password no longer
    matches it (each distinct hash is checked once, all at once off the event loop)."""
    pairs = {(logins[index].password or "", stored_hash) for index, stored_hash in stored.items()}
    ordered = list(pairs)
    results = await asyncio.gather(*(verify_password(pw, h) for pw, h in ordered))
    still = dict(zip(ordered, results, strict=True))
    return [
        login
        if index not in stored or still[(login.password or "", stored[index])]
        else replace(login, password=None)
        for index, login in enumerate(logins)
    ]


@dataclass(frozen=True)
class DemoChats:
    """Who the sandbox's two chats are logged in as (None: not logged in)."""

    customer: Customer | None
    admin: Admin | None


async def log_in_demo_chats(
    db: Database, *, customer_telegram_id: int, admin_telegram_id: int
) -> DemoChats:
    """Log the sandbox's customer chat in as the first demo customer and its staff chat as the
    demo admin, as /login and /adminlogin would; a chat already linked to an account (the
    user logged in as someone else in an earlier session) stays as it is."""
    customer = await customers.find_by_telegram(db, customer_telegram_id)
    if customer is None:
        row = await db.fetch_one("get_customer_by_meter", {"meter_number": DEMO_CUSTOMERS[0][0]})
        if row is not None:
            customer = await customers.link_telegram(
                db, int(row["customer_id"]), customer_telegram_id
            )
    admin = await admins.find_by_telegram(db, admin_telegram_id)
    if admin is None:
        demo_admin = await admins.find_by_email(db, DEMO_ADMINS[0][1])
        if demo_admin is not None:
            admin = await admins.link_telegram(db, demo_admin.admin_id, admin_telegram_id)
    return DemoChats(customer, admin)
