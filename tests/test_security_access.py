"""Access: every command and every button × {stranger, customer A, customer B, viewer, admin};
and webhook mode refusing updates that lack the secret token."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from domain import claims, customers, readings
from fake_telegram import BotEvent
from handlers.admin_gate import STALE_BUTTON, UNKNOWN_COMMAND
from tests.e2e_support import (
    Harness,
    command_update,
    free_port,
    harness,
    running_bot,
    running_webhook_bot,
)
from tests.factories import make_bill
from tests.reliability_support import record_figures
from tests.security_support import (
    ROLES,
    Cast,
    make_cast,
    pdf_text,
    recording,
    registered_callback_prefixes,
    registered_commands,
    visible_text,
)

__all__ = ["harness"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NOT_LINKED = "not linked"
READ_ONLY = "cannot change anything"
NOT_FOUND = "could not be found"


def classify(events: list[BotEvent]) -> str:
    """One word for what the bot did."""
    said = [e.message.body for e in events if e.message is not None]
    toasts = [e.answer.text for e in events if e.answer is not None and e.answer.text]
    text = "\n".join(said + toasts)
    if not events:
        return "nothing"
    if UNKNOWN_COMMAND in said:
        return "unknown"
    if NOT_LINKED in text:
        return "not_linked"
    if READ_ONLY in text:
        return "read_only"
    if STALE_BUTTON in toasts and not said:
        return "stale"
    if NOT_FOUND in text or "not found" in text.lower():
        return "not_found"
    if any(w in text for w in ("out of date", "no longer valid", "start again")):
        return "out_of_date"
    if not said:
        return "answered"
    return "served"


def commands(cast: Cast) -> list[str]:
    a = cast.a
    meter = a.customer.meter_number
    return [
        "/start",
        "/start not-a-real-code",
        "/help",
        "/cancel",
        "/dashboard",
        "/bills",
        "/bills all",
        "/pay",
        "/receipt",
        "/statement",
        "/statement 2026-09",
        "/profile",
        "/password",
        "/login",
        "/adminlogin",
        "/customers",
        f"/customers {a.customer.full_name.split()[0]}",
        f"/customer {meter}",
        "/addcustomer",
        f"/editcustomer {meter}",
        "/newbill",
        f"/editbill {a.bill_id}",
        "/bills unpaid",
        f"/pending {meter}",
        "/payments",
        f"/payments {meter}",
        "/recordpayment",
        f"/recordpayment {meter}",
        f"/voidpayment {a.payment_id}",
        f"/waive {a.bill_id}",
        "/refunds",
        f"/refundcredit {meter}",
        "/claims",
        "/reconcile",
        "/reconcile 2026-11",
        "/revenue",
        "/outstanding",
        "/trend",
        "/importbills",
        "/reading",
        f"/reading {meter}",
        "/readings",
        "/billrun 2026-09",
        "/audit",
        f"/audit {meter}",
        "/notify",
        "/tariffs",
        "/tariff RES-1",
        "/newtariff",
        f"/settariff {meter} flat",
        "/no_such_command",
        # Last: they unlink the person.
        "/logout",
        "/adminlogout",
    ]


def buttons(cast: Cast, claim_id: int = 0, reading_id: int = 0) -> list[str]:
    a = cast.a
    cid = a.customer.customer_id
    return [
        f"paybill:{a.bill_id}",
        "payamt:full",
        "payamt:other",
        "paymethod:card",
        f"payok:{a.idempotency_key}",
        f"rcpt:{a.payment_id}",
        "rcptp:0",
        "bills:0:all",
        "menu:pay",
        "profile:phone",
        "profile:done",
        "cancel",
        "noop",
        "acl:0",
        f"acu:{cid}",
        "aadd:skip",
        "aadd:ok",
        f"aedc:{cid}",
        "arfm:1",
        f"arcok:{cid}",
        "aecf:phone_number",
        f"aact:{cid}",
        f"anb:{cid}",
        "anbm:202610",
        "anbr:default",
        "anbok",
        "aebf:units",
        "aebok",
        "abl:0:all:0",
        "ablx:all:0",
        f"arpc:{cid}",
        f"arpb:{a.bill_id}",
        "arpa:full",
        "arpm:cash",
        f"arpok:{a.idempotency_key}",
        f"avok:{a.payment_id}",
        "apl:0:a:0",
        "acsvr:0:0",
        "acsvo:20261124",
        "acsvt:12:202611",
        f"aaud:{cid}",
        "aclp:0",
        f"aclok:{claim_id}",
        f"aclrj:{claim_id}",
        "arcp:0:202611",
        "acsvrc:202611",
        "atl:0",
        "ats:RES-1",
        "antc:RES-1",
        "antk:residential",
        "antf:202701",
        "antn",
        "antx",
        "antok",
        f"alfp:{a.bill_id}:1",
        f"alfk:{a.bill_id}:1",
        "ardp:0",
        f"ardph:{reading_id}",
        f"ardok:{reading_id}",
        f"ardfix:{reading_id}",
        f"ardrj:{reading_id}",
        "ardsave",
        "crdsend",
        "billrun:no:202609",
    ]


async def claim_to_check(harness: Harness) -> int:
    """A pending transfer claim of a customer with no Telegram account: confirming it sends
    nobody in the cast a message."""
    customer = await customers.add_customer(
        harness.admin_db,
        meter_number="MTR-CLAIM77",
        full_name="Carol Claimant",
        address="3 Transfer Row",
    )
    bill = await make_bill(harness.admin_db, customer)
    claim = await claims.submit(
        harness.customer_db,
        customer_id=customer.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal("5.00"),
        method="bank_transfer",
        reference="ACCESS-0001",
    )
    return claim.claim_id


async def reading_to_check(harness: Harness) -> int:
    """A customer's pending meter reading (with a photo) of a customer with no Telegram
    account: deciding it sends nobody in the cast a message."""
    customer = await customers.add_customer(
        harness.admin_db,
        meter_number="MTR-READ77",
        full_name="Rita Reader",
        address="4 Meter Lane",
    )
    month = datetime.now(harness.config.timezone).date().replace(day=1)
    sent = await readings.submit(
        harness.customer_db,
        customer_id=customer.customer_id,
        reading=Decimal("1234"),
        current_month=month,
        photo_file_id="AgAC-not-on-the-server",
    )
    return sent.reading.reading_id


STAFF_READ_COMMANDS = {
    "customers", "customer", "pending", "payments", "revenue", "outstanding", "trend",
    "audit", "notify", "claims", "reconcile", "refunds", "tariffs", "tariff", "readings",
}  # fmt: skip
STAFF_WRITE_COMMANDS = {
    "addcustomer", "editcustomer", "newbill", "editbill", "recordpayment", "voidpayment",
    "importbills", "refundcredit", "newtariff", "settariff", "waive", "billrun",
}  # fmt: skip
CUSTOMER_COMMANDS = {
    "dashboard", "pay", "receipt", "statement", "profile", "password", "logout",
}  # fmt: skip
EVERYONE_COMMANDS = {"help", "cancel", "login", "adminlogin"}
STAFF_READ_BUTTONS = {
    "acl", "acu", "abl", "apl", "acsvr", "acsvo", "acsvt", "aaud", "aclp", "arcp", "acsvrc",
    "atl", "ats",
    "ardp", "ardph",
    "ablx",
}  # fmt: skip
STAFF_WRITE_BUTTONS = {
    "aedc", "aact", "anb", "arpc", "arpb", "arpok", "aclok", "aclrj", "arfm", "billrun",
    "ardok", "ardfix", "ardrj",
}  # fmt: skip
# Buttons that mean something only inside a flow: pressed outside one, they are stale.
STAFF_FLOW_BUTTONS = {
    "aadd",
    "aecf",
    "anbm",
    "anbr",
    "anbok",
    "aebf",
    "aebok",
    "arpa",
    "arpm",
    "avok",
    "arcok",
    "antc",
    "antk",
    "antf",
    "antn",
    "antx",
    "antok",
    "alfp",
    "alfk",
}
CUSTOMER_FLOW_BUTTONS = {"paybill", "payamt", "paymethod"}
CUSTOMER_BUTTONS = {"rcptp", "bills", "menu"}


def expected(label: str, role: str) -> set[str]:
    """What each role should get (see ``classify``)."""
    staff = role in ("viewer", "admin")
    customer = role in ("customer_a", "customer_b")
    if label.startswith("/"):
        command = label[1:].split()[0]
        if command == "start":
            return {"not_linked"} if role == "stranger" and label == "/start" else {"served"}
        if command == "bills":
            return {"not_linked"} if role == "stranger" else {"served"}
        if command == "reading":  # staff: a meter's reading; a customer: their own
            if staff:
                return {"served"} if role == "admin" else {"read_only"}
            return {"served"} if customer else {"not_linked"}
        if command in EVERYONE_COMMANDS:
            return {"served"}
        if command == "adminlogout":  # to non-staff it says nothing about staff accounts
            return {"served"} if staff else {"unknown"}
        if command in CUSTOMER_COMMANDS:
            return {"served"} if customer else {"not_linked"}
        if command in STAFF_READ_COMMANDS:
            return {"served"} if staff else {"unknown"}
        if command in STAFF_WRITE_COMMANDS:
            if not staff:
                return {"unknown"}
            return {"served"} if role == "admin" else {"read_only"}
        return {"unknown"}
    prefix = label.split(":")[0]
    if prefix in CUSTOMER_FLOW_BUTTONS:
        return {"out_of_date"}
    if prefix == "payok":  # A's own confirm key: A gets the receipt again, B nothing
        return {"customer_a": {"served"}, "customer_b": {"out_of_date"}}.get(role, {"not_linked"})
    if prefix == "rcpt":  # A's payment
        return {"customer_a": {"served"}, "customer_b": {"not_found"}}.get(role, {"not_linked"})
    if prefix in CUSTOMER_BUTTONS:
        return {"served"} if customer else {"not_linked"}
    if prefix in ("cancel", "noop"):
        return {"served", "answered"}
    if prefix in STAFF_READ_BUTTONS:
        return {"served"} if staff else {"stale"}
    if prefix in STAFF_WRITE_BUTTONS:
        if not staff:
            return {"stale"}
        return {"served"} if role == "admin" else {"read_only"}
    return {"stale"}  # profile:*, staff flow buttons


def leaked(events: list[BotEvent], markers: tuple[str, ...]) -> list[str]:
    text = visible_text(events)
    documents = [
        pdf_text(e.message.document.data)
        for e in events
        if e.message is not None
        and e.message.document is not None
        and e.message.document.filename
        and e.message.document.filename.endswith(".pdf")
    ]
    return [m for m in markers if m in text or any(m in d for d in documents)]


@pytest.mark.timeout(120)
async def test_every_command_and_button_answers_each_role_as_it_should_and_leaks_nothing(
    harness: Harness,
) -> None:
    """Commands and buttons (their data naming customer A's records) from each of five
    people: each gets what their role allows, and nobody but A and the staff ever sees a word
    of A's data (nor anybody but B and the staff B's)."""
    cast = await make_cast(harness, 74000)
    claim_id = await claim_to_check(harness)
    reading_id = await reading_to_check(harness)
    results: dict[tuple[str, str], str] = {}
    seen: dict[str, list[BotEvent]] = {role: [] for role in ROLES}
    # No pacing: ~750 messages here, and Telegram's 30 a second is not what is tested.
    async with running_bot(harness, messages_per_second=0) as application:
        assert {c.lstrip("/").split()[0] for c in commands(cast)} >= registered_commands(
            application
        ) - {"start"} | {"start"}
        assert {
            d.split(":")[0] for d in buttons(cast, claim_id, reading_id)
        } >= registered_callback_prefixes(application)
        async with recording(cast.users) as recorders:

            async def play(role: str) -> None:
                user, recorder = cast.users[role], recorders[role]
                await user.send("/help")
                await user.wait_for_reply()

                async def act(label: str, action: Callable[[], Awaitable[Any]]) -> None:
                    action.is_cancel = label == "/cancel"  # type: ignore[attr-defined]
                    events = await recorder.exchange(action)
                    seen[role].extend(events)
                    results[(label, role)] = classify(events)

                async def press(data: str) -> None:
                    # A fresh message each time, so no answer is lost as "not modified".
                    anchor = user.last_message()
                    assert anchor is not None
                    await user.press_data(anchor.message_id, data)

                for data in buttons(cast, claim_id, reading_id):
                    await act(data, lambda d=data: press(d))  # type: ignore[misc]
                for text in commands(cast):
                    await act(text, lambda t=text: user.send(t))  # type: ignore[misc]

            await asyncio.gather(*(play(role) for role in ROLES))

    wrong = {
        (label, role): (got, sorted(expected(label, role)))
        for (label, role), got in results.items()
        if got not in expected(label, role)
    }
    assert not wrong, json.dumps({f"{k[0]} as {k[1]}": v for k, v in wrong.items()}, indent=1)
    # Nobody sees another customer's name, meter, address, email or receipt numbers.
    assert leaked(seen["stranger"], cast.a.markers + cast.b.markers) == []
    assert leaked(seen["customer_b"], cast.a.markers) == []
    assert leaked(seen["customer_a"], cast.b.markers) == []
    # …while A and the staff do see A's (the check can see a leak).
    assert leaked(seen["customer_a"], cast.a.markers)
    assert leaked(seen["admin"], cast.a.markers)
    record_figures(
        "access_matrix",
        {
            "commands": len(commands(cast)),
            "buttons": len(buttons(cast, claim_id, reading_id)),
            "roles": len(ROLES),
            "interactions": len(results),
            "outcomes": dict(Counter(results.values())),
        },
    )


@pytest.mark.timeout(60)
async def test_a_webhook_post_without_the_secret_token_is_refused_and_not_processed(
    harness: Harness,
) -> None:
    """Webhook mode (run_bot --webhook) on 127.0.0.1: a POST without Telegram's secret
    token header, or with a wrong one, gets 403 and the bot does nothing with it; the same
    update with the token is answered."""
    port = free_port()
    user = harness.server.user(74900, "Hook")
    url = f"http://127.0.0.1:{port}/"
    statuses = {}
    async with running_webhook_bot(harness.config, url) as (_, options):
        async with aiohttp.ClientSession() as http:
            attempts = {
                "no token": {},
                "wrong token": {SECRET_HEADER: "guessed-" + "x" * 20},
                "right token": {SECRET_HEADER: options.secret_token},
            }
            for number, (name, headers) in enumerate(attempts.items(), start=1):
                body = command_update(900_000 + number, user.id, "/help")
                async with http.post(url, json=body, headers=headers) as response:
                    statuses[name] = response.status
                if name != "right token":
                    await asyncio.sleep(0.3)
                    assert user.messages() == [], f"the bot answered a POST with {name}"
            answer = await user.wait_for_reply(10)
    assert statuses == {"no token": 403, "wrong token": 403, "right token": 200}
    assert "What I can do" in answer.body and len(user.messages()) == 1
    assert harness.server.webhook_url == url
    record_figures("webhook_secret", {"statuses": statuses, "updates_processed": 1})
