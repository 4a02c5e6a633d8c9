"""Shared pieces of the security tests: a cast of five (stranger, two customers, a viewer and
an admin) on the running bot, and a recorder of everything the bot sends each of them."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pypdf import PdfReader
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ConversationHandler

from bot.context import BillingApplication
from domain import admins, customers, payments
from domain.models import Customer
from fake_telegram import BotEvent, FakeUser
from tests.e2e_support import Harness
from tests.factories import give_credit, make_bill
from tests.reliability_support import link_telegram

ROLES = ("stranger", "customer_a", "customer_b", "viewer", "admin")
CANCELLED = "Cancelled. Nothing was changed."


@dataclass
class Account:
    """A customer of the cast, with the words that would give their data away."""

    customer: Customer
    bill_id: int  # an unpaid bill
    paid_bill_id: int  # a bill with one payment
    payment_id: int
    idempotency_key: str
    receipt_number: str
    markers: tuple[str, ...]


@dataclass
class Cast:
    users: dict[str, FakeUser]
    a: Account
    b: Account
    admin_id: int
    viewer_id: int


async def _account(harness: Harness, tag: str, telegram_id: int, name: str) -> Account:
    customer = await customers.add_customer(
        harness.admin_db,
        meter_number=f"MTR-{tag}77",
        full_name=name,
        address=f"{tag.title()} Secret Lane 9",
        phone_number=f"+23480{telegram_id:08d}",
        email=f"{tag}.private@example.com",
    )
    await link_telegram(harness.admin_db, customer.customer_id, telegram_id)
    unpaid = await make_bill(harness.admin_db, customer, units="321", rate="3")
    paid = await make_bill(
        harness.admin_db, customer, month=unpaid.billing_month.replace(month=8), units="7"
    )
    key = f"key-{tag}-{telegram_id}"
    await give_credit(harness.admin_db, paid, "4.44")
    result = await payments.pay_bill(
        harness.customer_db,
        bill_id=paid.bill_id,
        amount=Decimal("4.44"),
        method="credit",
        idempotency_key=key,
        customer_id=customer.customer_id,
    )
    return Account(
        customer,
        unpaid.bill_id,
        paid.bill_id,
        result.payment.payment_id,
        key,
        result.payment.receipt_number,
        (
            name,
            customer.meter_number,
            customer.address or "",
            f"{tag}.private@example.com",
            result.payment.receipt_number,
        ),
    )


async def make_cast(harness: Harness, first_id: int) -> Cast:
    """Five people: nobody, customers A and B (each with bills and a payment), two staff."""
    server = harness.server
    users = {role: server.user(first_id + i, role.title()) for i, role in enumerate(ROLES)}
    a = await _account(harness, "alpha", users["customer_a"].id, "Alice Aardvark")
    b = await _account(harness, "bravo", users["customer_b"].id, "Bruno Bumblebee")
    staff = {}
    for role, kind in (("admin", "admin"), ("viewer", "viewer")):
        made = await admins.create_admin(
            harness.admin_db,
            admin_name=f"Staff {role}",
            email=f"{role}@utility.example",
            password="a-long-staff-password",
            role=kind,
            telegram_user_id=users[role].id,
        )
        staff[role] = made.admin_id
    return Cast(users, a, b, staff["admin"], staff["viewer"])


# ---------------------------------------------------------------------------------------------
# What the bot sends


@dataclass
class Recorder:
    """Every event the bot makes in one chat, in order (independent of the user's waits)."""

    user: FakeUser
    events: list[BotEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async for event in self.user.stream():
            self.events.append(event)
            self.changed.set()

    async def exchange(
        self,
        action: Callable[[], Awaitable[Any]],
        timeout: float = 10,  # noqa: ASYNC109 - a test helper's own deadline
    ) -> list[BotEvent]:
        """Do ``action``, then send /cancel; return what the bot did before answering the
        /cancel. A chat's updates are handled one after another, so everything the action
        caused comes first — and the /cancel leaves no flow behind for the next action."""
        start = len(self.events)
        await action()
        await self.user.send("/cancel")
        # The /cancel command itself as the action answers "Cancelled" twice.
        needed = 2 if getattr(action, "is_cancel", False) else 1

        def sentinels() -> list[int]:
            return [
                i
                for i in range(start, len(self.events))
                if self.events[i].kind == "message"
                and self.events[i].message is not None
                and self.events[i].message.body == CANCELLED  # type: ignore[union-attr]
            ]

        async with asyncio.timeout(timeout):
            while len(sentinels()) < needed:
                self.changed.clear()
                await self.changed.wait()
        return self.events[start : sentinels()[needed - 1]]


@contextlib.asynccontextmanager
async def recording(users: dict[str, FakeUser]) -> AsyncIterator[dict[str, Recorder]]:
    recorders = {role: Recorder(user) for role, user in users.items()}
    tasks = [asyncio.create_task(r.run()) for r in recorders.values()]
    await asyncio.sleep(0)  # each stream takes its starting point now
    try:
        yield recorders
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def visible_text(events: list[BotEvent]) -> str:
    """What a person would read: messages, edits, captions, file names and button toasts."""
    parts = []
    for event in events:
        if event.message is not None:
            parts.append(event.message.body)
            if event.message.document is not None:
                parts.append(event.message.document.filename or "")
            parts.extend(event.message.button_labels)
        if event.answer is not None and event.answer.text:
            parts.append(event.answer.text)
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# What the bot understands


def _walk(handler: BaseHandler[Any, Any, Any]) -> Iterator[BaseHandler[Any, Any, Any]]:
    yield handler
    if isinstance(handler, ConversationHandler):
        for inner in (
            *handler.entry_points,
            *(h for hs in handler.states.values() for h in hs),
            *handler.fallbacks,
        ):
            yield from _walk(inner)


def registered_commands(application: BillingApplication) -> set[str]:
    return {
        command
        for group in application.handlers.values()
        for top in group
        for handler in _walk(top)
        if isinstance(handler, CommandHandler)
        for command in handler.commands
    }


def registered_callback_prefixes(application: BillingApplication) -> set[str]:
    """The literal prefix of every callback pattern (``^paybill:`` → ``paybill``)."""
    found = set()
    for group in application.handlers.values():
        for top in group:
            for handler in _walk(top):
                if isinstance(handler, CallbackQueryHandler) and handler.pattern is not None:
                    pattern = getattr(handler.pattern, "pattern", str(handler.pattern))
                    match = re.match(r"\^([a-z_]+)", str(pattern))
                    if match:
                        found.add(match.group(1))
    return found


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))
