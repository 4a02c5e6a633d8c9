"""Telegram Payments in the fake Bot API server, driven by python-telegram-bot over HTTP.

These tests prove a card payment can be tested end to end as Telegram runs it: sendInvoice is
checked like Telegram checks it (per-currency bounds of the total, a provider token), the
payer's Pay brings a pre-checkout query with no chat, and only an ok=true answer in time
brings a successful_payment message with fresh charge ids.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from fake_telegram import (
    CURRENCIES,
    FakeTelegramError,
    FakeTelegramServer,
    PaymentOutcome,
)

pytestmark = pytest.mark.timeout(30)

TOKEN = "4343:TEST-fake-payments"
PROVIDER_TOKEN = "284685063:TEST:fake-provider"
NGN = CURRENCIES["NGN"]
BILL_KOBO = 250_000  # ₦2,500.00: inside Telegram's naira bounds
PAYLOAD = "bill-7:2500.00"

App = Application[Any, Any, Any, Any, Any, Any]


# --------------------------------------------------------------------------- a tiny shop bot


async def record_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remember every update the bot was handed, duplicates included."""
    context.bot_data.setdefault("updates", []).append(update)


async def send_bill_invoice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send an invoice for the bill (₦2,500.00 unless an amount in kobo is given)."""
    assert update.effective_chat
    amount = int(context.args[0]) if context.args else BILL_KOBO
    await context.bot.send_invoice(
        update.effective_chat.id,
        title="Electricity bill",
        description="March 2025, meter 45-0012",
        payload=PAYLOAD,
        provider_token=PROVIDER_TOKEN,
        currency="NGN",
        prices=[LabeledPrice("Energy", amount)],
    )


async def check_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the pre-checkout query as ``bot_data["checkout"]`` says: ok, refuse or silent."""
    query = update.pre_checkout_query
    assert query
    context.bot_data.setdefault("checkouts", []).append((query, update.effective_chat))
    mode = context.bot_data.get("checkout", "ok")
    if mode == "ok":
        await query.answer(ok=True)
    elif mode == "refuse":
        await query.answer(ok=False, error_message="This bill is already paid.")


async def record_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Thank the payer with the charge id."""
    assert update.message and update.message.successful_payment
    payment = update.message.successful_payment
    context.bot_data.setdefault("payments", []).append(payment)
    await update.message.reply_text(f"Paid: {html.escape(payment.telegram_payment_charge_id)}")


def build_application(server: FakeTelegramServer) -> App:
    application = (
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .build()
    )
    application.add_handler(TypeHandler(Update, record_update), group=-1)
    application.add_handler(CommandHandler("invoice", send_bill_invoice))
    application.add_handler(PreCheckoutQueryHandler(check_out))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, record_payment))
    return application


@asynccontextmanager
async def polling(
    server: FakeTelegramServer, allowed_updates: list[str] | None = None
) -> AsyncIterator[App]:
    """The shop bot, polling the fake server; stopped properly afterwards."""
    app = build_application(server)
    async with app:
        await app.start()
        assert app.updater
        await app.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=allowed_updates
        )
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as running:
        yield running


@pytest.fixture
async def application(server: FakeTelegramServer) -> AsyncIterator[App]:
    async with polling(server, allowed_updates=Update.ALL_TYPES) as app:
        yield app


@asynccontextmanager
async def bare_bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    """A Bot with no Application, for calls a handler would make."""
    async with Bot(server.token, base_url=server.base_url) as bot:
        yield bot


def refused(description: str) -> AbstractContextManager[pytest.ExceptionInfo[BadRequest]]:
    """Expect Telegram's description; PTB shows it capitalized ("Currency_total_...")."""
    return pytest.raises(BadRequest, match=f"(?i){re.escape(description)}")


async def send_invoice(bot: Bot, chat_id: int, *prices: int, **kwargs: Any) -> Any:
    """sendInvoice in naira with one price part per amount given."""
    fields: dict[str, Any] = {
        "title": "Electricity bill",
        "description": "March 2025",
        "payload": PAYLOAD,
        "provider_token": PROVIDER_TOKEN,
        "currency": "NGN",
    }
    fields.update(kwargs)
    labeled = [LabeledPrice(f"part {i}", amount) for i, amount in enumerate(prices, 1)]
    return await bot.send_invoice(chat_id, prices=labeled, **fields)


# --------------------------------------------------------------------------- invoices


async def test_an_invoice_appears_with_a_pay_button_for_its_total(
    server: FakeTelegramServer,
) -> None:
    """The invoice reaches the chat with Telegram's "Pay ₦…" button; the payload stays hidden."""
    user = server.user(601, "Ada")
    async with bare_bot(server) as bot:
        sent = await send_invoice(bot, user.chat_id, 200_000, 50_000, start_parameter="bill-7")

    assert sent.invoice is not None
    assert (sent.invoice.currency, sent.invoice.total_amount) == ("NGN", 250_000)
    assert sent.invoice.title == "Electricity bill"
    assert sent.invoice.start_parameter == "bill-7"
    assert sent.reply_markup is None  # the phone draws the default pay button itself

    invoice_message = await user.wait_for_reply()
    assert invoice_message.button_labels == ["Pay ₦2,500.00"]
    assert invoice_message.inline_keyboard[0][0].pay
    assert user.invoices() == [invoice_message]
    assert invoice_message.invoice is not None
    assert invoice_message.invoice.payload == PAYLOAD
    assert invoice_message.invoice.provider_token == PROVIDER_TOKEN
    assert invoice_message.invoice.prices == (("part 1", 200_000), ("part 2", 50_000))
    assert "Electricity bill" in invoice_message.render()

    (call,) = server.calls_to("sendInvoice")
    assert call.status == 200
    assert call.params["payload"] == PAYLOAD


async def test_an_invoice_keyboard_must_start_with_the_pay_button(
    server: FakeTelegramServer,
) -> None:
    """A custom keyboard is kept when its first button pays, and refused otherwise."""
    user = server.user(602, "Bola")
    cancel = InlineKeyboardButton("Cancel", callback_data="cancel")
    async with bare_bot(server) as bot:
        with refused("REPLY_MARKUP_BUY_EMPTY"):
            await send_invoice(
                bot, user.chat_id, BILL_KOBO, reply_markup=InlineKeyboardMarkup([[cancel]])
            )
        pay = InlineKeyboardButton("Pay the bill", pay=True)
        sent = await send_invoice(
            bot, user.chat_id, BILL_KOBO, reply_markup=InlineKeyboardMarkup([[pay], [cancel]])
        )

    assert sent.reply_markup is not None
    assert user.invoices()[-1].button_labels == ["Pay the bill", "Cancel"]


async def test_naira_totals_outside_telegrams_bounds_are_refused(
    server: FakeTelegramServer,
) -> None:
    """A total below the minimum or above the maximum gets CURRENCY_TOTAL_AMOUNT_INVALID; the
    bounds themselves are accepted, and the total is the sum of the price parts."""
    user = server.user(603, "Chidi")
    async with bare_bot(server) as bot:
        for total in (NGN.min_amount - 1, NGN.max_amount + 1):
            with refused("CURRENCY_TOTAL_AMOUNT_INVALID"):
                await send_invoice(bot, user.chat_id, total)
        with refused("CURRENCY_TOTAL_AMOUNT_INVALID"):
            await send_invoice(bot, user.chat_id, NGN.max_amount, 100)
        await send_invoice(bot, user.chat_id, NGN.min_amount)
        await send_invoice(bot, user.chat_id, NGN.max_amount)
        # A discount line may be negative; only the total is bounded.
        await send_invoice(bot, user.chat_id, NGN.min_amount + 5_000, -5_000)

    assert [m.invoice.total_amount for m in user.invoices() if m.invoice] == [
        NGN.min_amount,
        NGN.max_amount,
        NGN.min_amount,
    ]
    assert [c.status for c in server.calls_to("sendInvoice")] == [400, 400, 400, 200, 200, 200]


async def test_a_test_may_move_the_bounds_of_its_own_server(server: FakeTelegramServer) -> None:
    """``server.currencies`` is the server's own copy of the table: changing it changes the
    checks there and nowhere else."""
    user = server.user(604, "Dayo")
    server.currencies["NGN"] = replace(NGN, min_amount=100)
    async with bare_bot(server) as bot:
        await send_invoice(bot, user.chat_id, 15_000)
    assert user.invoices()[-1].button_labels == ["Pay ₦150.00"]
    assert CURRENCIES["NGN"].min_amount == NGN.min_amount


async def test_invoices_are_checked_as_telegram_checks_them(server: FakeTelegramServer) -> None:
    """No provider token, an unknown currency, fields past their limits, no or non-positive
    prices: each is refused with Telegram's description, and nothing reaches the chat."""
    user = server.user(605, "Efe")
    refusals = [
        ({"provider_token": ""}, "PAYMENT_PROVIDER_INVALID"),
        ({"currency": "XYZ"}, "CURRENCY_INVALID"),
        ({"title": "t" * 33}, "INVOICE_TITLE_INVALID"),
        ({"title": ""}, 'parameter "title" is required'),
        ({"description": "d" * 256}, "INVOICE_DESCRIPTION_INVALID"),
        ({"payload": "₦" * 43}, "INVOICE_PAYLOAD_INVALID"),  # 129 bytes in UTF-8
    ]
    async with bare_bot(server) as bot:
        for fields, description in refusals:
            with refused(description):
                await send_invoice(bot, user.chat_id, BILL_KOBO, **fields)
        with refused("at least one price"):
            await send_invoice(bot, user.chat_id)
        with refused("total price must be positive"):
            await send_invoice(bot, user.chat_id, 1_000, -1_000)
        # At the limits exactly, all is well.
        await send_invoice(
            bot, user.chat_id, BILL_KOBO, title="t" * 32, description="d" * 255, payload="p" * 128
        )
    assert len(user.invoices()) == 1


async def test_an_amount_that_is_not_an_integer_is_refused(server: FakeTelegramServer) -> None:
    """Amounts are integers in the smallest unit: 2500.5 is not an amount of kobo."""
    user = server.user(606, "Femi")
    form = {
        "chat_id": str(user.chat_id),
        "title": "Electricity bill",
        "description": "March 2025",
        "payload": PAYLOAD,
        "provider_token": PROVIDER_TOKEN,
        "currency": "NGN",
        "prices": '[{"label": "Energy", "amount": 250000.5}]',
    }
    async with aiohttp.ClientSession() as session:
        url = f"{server.base_url}{server.token}/sendInvoice"
        async with session.post(url, data=form) as response:
            body = await response.json()
    assert response.status == 400
    assert body["description"].startswith("Bad Request: can't parse labeled price")
    assert user.invoices() == []


# --------------------------------------------------------------------------- paying


async def test_a_paid_invoice_brings_a_pre_checkout_query_then_the_payment(
    server: FakeTelegramServer, application: App
) -> None:
    """Pay: the bot gets a pre-checkout query (payload, total, payer, no chat); its ok=true
    brings a successful_payment message with both charge ids from the payer's chat."""
    user = server.user(611, "Gbenga")
    await user.send("/invoice")
    await user.wait_for_reply()

    outcome = await user.pay_invoice()

    assert outcome.ok and outcome.error_message is None
    assert 0 <= outcome.answered_in < 5
    ((query, chat),) = application.bot_data["checkouts"]
    assert chat is None
    assert query.from_user.id == user.id
    assert (query.currency, query.total_amount, query.invoice_payload) == (
        "NGN",
        BILL_KOBO,
        PAYLOAD,
    )
    reply = await user.wait_for_reply()
    (payment,) = application.bot_data["payments"]
    assert payment.invoice_payload == PAYLOAD
    assert payment.total_amount == BILL_KOBO
    assert payment.telegram_payment_charge_id.startswith("tg_charge_")
    assert payment.provider_payment_charge_id.startswith("prov_")
    assert outcome.successful_payment == payment.to_dict()
    assert reply.text == f"Paid: {payment.telegram_payment_charge_id}"
    assert outcome.message_id is not None
    assert user.history()[-2].successful_payment == outcome.successful_payment
    assert [(a.query_id, a.ok) for a in server.pre_checkout_answers] == [(query.id, True)]
    assert server.payments == [outcome]


async def test_a_refused_pre_checkout_charges_nothing(
    server: FakeTelegramServer, application: App
) -> None:
    """ok=false: the payer sees the bot's reason and no successful_payment is delivered."""
    user = server.user(612, "Halima")
    application.bot_data["checkout"] = "refuse"
    await user.send("/invoice")
    await user.wait_for_reply()

    outcome = await user.pay_invoice()

    assert outcome == PaymentOutcome(
        False, "This bill is already paid.", outcome.answered_in, None, None, outcome.query_id
    )
    await user.expect_no_reply(within=0.3)
    assert "payments" not in application.bot_data
    assert not any(m.successful_payment for m in user.history())


async def test_an_unanswered_pre_checkout_times_out_and_charges_nothing(
    server: FakeTelegramServer, application: App
) -> None:
    """No answer within the deadline: the payment fails with "timed out", nothing is
    delivered, and an answer that comes later is refused as Telegram refuses it."""
    user = server.user(613, "Ify")
    application.bot_data["checkout"] = "silent"
    await user.send("/invoice")
    await user.wait_for_reply()

    outcome = await user.pay_invoice(answer_timeout=0.3)

    assert (outcome.ok, outcome.error_message, outcome.successful_payment) == (
        False,
        "timed out",
        None,
    )
    assert outcome.answered_in >= 0.3
    ((query, _),) = application.bot_data["checkouts"]
    with refused("query is too old"):
        await query.answer(ok=True)
    await user.expect_no_reply(within=0.2)
    assert server.pre_checkout_answers == []
    assert server.unanswered_pre_checkout_queries() == []


async def test_answering_an_unknown_or_answered_query_is_refused(
    server: FakeTelegramServer, application: App
) -> None:
    """An id Telegram never sent, or one already answered, gets "query is too old"; a refusal
    needs its error_message."""
    user = server.user(614, "Jide")
    await user.send("/invoice")
    await user.wait_for_reply()
    await user.pay_invoice()
    ((query, _),) = application.bot_data["checkouts"]
    async with bare_bot(server) as bot:
        with refused("query is too old"):
            await bot.answer_pre_checkout_query("12345", ok=True)
        with refused("query is too old"):
            await bot.answer_pre_checkout_query(query.id, ok=True)
        with refused('parameter "error_message" is required'):
            await bot.answer_pre_checkout_query(query.id, ok=False)


async def test_deliver_twice_hands_the_bot_the_same_payment_twice(
    server: FakeTelegramServer, application: App
) -> None:
    """A re-delivered payment: two updates, one message, the same charge ids."""
    user = server.user(615, "Kemi")
    await user.send("/invoice")
    await user.wait_for_reply()

    outcome = await user.pay_invoice(deliver_twice=True)
    await user.wait_for_replies(2)

    first, second = application.bot_data["payments"]
    assert first == second
    assert first.to_dict() == outcome.successful_payment
    payment_updates = [
        u for u in application.bot_data["updates"] if u.message and u.message.successful_payment
    ]
    assert [u.message.message_id for u in payment_updates] == [outcome.message_id] * 2
    assert payment_updates[0].update_id != payment_updates[1].update_id


async def test_paying_the_same_invoice_twice_gives_two_charge_ids(
    server: FakeTelegramServer, application: App
) -> None:
    """Telegram lets an invoice be paid more than once; each payment is a new charge."""
    user = server.user(616, "Lami")
    await user.send("/invoice")
    invoice = await user.wait_for_reply()

    first = await user.pay_invoice(invoice)
    second = await user.pay_invoice(invoice.message_id)
    await user.wait_until(lambda: len(application.bot_data.get("payments", [])) == 2)

    assert first.ok and second.ok
    assert first.successful_payment and second.successful_payment
    charge_ids = {
        first.successful_payment["telegram_payment_charge_id"],
        second.successful_payment["telegram_payment_charge_id"],
    }
    provider_ids = {
        first.successful_payment["provider_payment_charge_id"],
        second.successful_payment["provider_payment_charge_id"],
    }
    assert len(charge_ids) == len(provider_ids) == 2
    assert first.successful_payment["invoice_payload"] == PAYLOAD


async def test_a_bot_that_did_not_ask_for_pre_checkout_queries_never_sees_one(
    server: FakeTelegramServer,
) -> None:
    """allowed_updates without "pre_checkout_query": the query is never delivered and the
    payer's payment times out, as with Telegram."""
    user = server.user(617, "Musa")
    async with polling(server, allowed_updates=["message", "callback_query"]) as app:
        await user.send("/invoice")
        await user.wait_for_reply()

        outcome = await user.pay_invoice(answer_timeout=0.5)

        assert (outcome.ok, outcome.error_message) == (False, "timed out")
        assert "checkouts" not in app.bot_data
        assert not any(u.pre_checkout_query for u in app.bot_data["updates"])
        assert server.pending_update_count == 0


async def test_pressing_the_pay_button_pays_in_the_background(
    server: FakeTelegramServer, application: App
) -> None:
    """press("Pay") does what pay_invoice does, for the sandbox: the bot's receipt follows."""
    user = server.user(618, "Nneka")
    await user.send("/invoice")
    await user.wait_for_reply()

    update = await user.press("Pay")

    assert "pre_checkout_query" in update
    reply = await user.wait_for_reply()
    assert reply.text is not None and reply.text.startswith("Paid: tg_charge_")
    await user.wait_until(lambda: len(server.payments) == 1)
    assert server.payments[0].ok


async def test_paying_needs_an_invoice(server: FakeTelegramServer) -> None:
    """pay_invoice on a chat with no invoice, or on a message that is not one, says so."""
    user = server.user(619, "Obi")
    with pytest.raises(FakeTelegramError, match="no invoice"):
        await user.pay_invoice()
    async with bare_bot(server) as bot:
        sent = await bot.send_message(user.chat_id, "hello")
    with pytest.raises(FakeTelegramError, match="not an invoice"):
        await user.pay_invoice(sent.message_id)


async def test_a_payment_left_waiting_ends_with_the_server(server: FakeTelegramServer) -> None:
    """A background payment still waiting for an answer is cancelled when the server stops."""
    user = server.user(620, "Pelumi")
    async with bare_bot(server) as bot:
        await send_invoice(bot, user.chat_id, BILL_KOBO)
    await user.press("Pay")
    assert len(server.unanswered_pre_checkout_queries()) == 1
    await asyncio.wait_for(server.stop(), 5)
    assert server.payments == []


# --------------------------------------------------------------------------- the table


def test_the_currency_table_keeps_telegrams_exponents_and_sane_bounds() -> None:
    """Exponents as in currencies.json; every minimum is positive and below its maximum;
    amounts are shown with the currency's decimals."""
    assert {code: info.exp for code, info in CURRENCIES.items()} == {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "NGN": 2,
        "JPY": 0,
        "KWD": 3,
        "BHD": 3,
    }
    assert (CURRENCIES["USD"].min_amount, CURRENCIES["USD"].max_amount) == (100, 1_000_000)
    assert all(0 < info.min_amount < info.max_amount for info in CURRENCIES.values())
    assert NGN.format(150_000) == "₦1,500.00"
    assert CURRENCIES["JPY"].format(1500) == "¥1,500"
    assert CURRENCIES["KWD"].format(12_345) == "KWD 12.345"
