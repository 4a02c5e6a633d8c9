"""Receipts: PDF render time (cold and warm), size, and how long a receipt blocks the loop.

The reference is the same receipt drawn with the whole DejaVu Sans loaded for each document
(how receipts were drawn before a subset font was prepared once per process). The bot draws
receipts in worker processes (handlers/render/receipt_renderer.py): the event loop's own time
per receipt (CPU time of the loop's thread while receipts are drawn) bounds how long a receipt
keeps every other chat waiting. A 1 ms ticker on the loop shows the same from outside, next
to a run with no receipts at all (the machine's own noise) and to drawing in a thread.
Every receipt is read back with pypdf to check the names and currency signs in it came out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from unittest import mock
from zoneinfo import ZoneInfo

from benchmarks.harness import Context, Figure, percentile
from domain.models import PaymentMethod, PaymentStatus, Receipt
from domain.money import Currency
from handlers.render import fonts
from handlers.render.receipt import render_receipt_pdf
from handlers.render.receipt_renderer import ReceiptRenderer

LAGOS = ZoneInfo("Africa/Lagos")
TARGET_WARM_MS = 30.0
TARGET_BLOCK_MS = 5.0

# (customer name, currency): Latin with Yoruba tone marks, Cyrillic, Greek; and one name in
# a script outside the prepared subset (Georgian), which falls back to the full font.
PEOPLE = (
    ("Ọláòlúwa Adébáyọ̀", Currency("NGN", "₦")),
    ("Kwame Mensah-Ɔdɔm", Currency("GHS", "₵")),
    ("Анна Петрова", Currency("RUB", "₽")),
    ("Ελένη Παπαδοπούλου", Currency("EUR", "€")),
    ("Amina Bello", Currency("INR", "₹")),
)
OUTSIDE_SUBSET = ("ნინო ბერიძე", Currency("USD", "$"))


def receipt(index: int, name: str) -> Receipt:
    return Receipt(
        receipt_number=f"EB-261124-{index:08d}",
        payment_id=index,
        date_of_payment=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        customer_name=name,
        meter_number=f"MTR-{index:07d}",
        address="12 Adeola Odeku Street, Victoria Island, Lagos",
        billing_month=date(2026, 10, 1),
        units_used=Decimal("345.50"),
        rate_per_unit=Decimal("68.5000"),
        bill_total=Decimal("23666.75"),
        amount_paid=Decimal("10000.00"),
        paid_to_date=Decimal("10000.00"),
        balance=Decimal("13666.75"),
        payment_method=PaymentMethod.MOBILE_MONEY,
        payment_status=PaymentStatus.PARTIAL,
        voided=False,
    )


def render(index: int, name: str, currency: Currency) -> bytes:
    return render_receipt_pdf(
        receipt(index, name), utility_name="City Power & Light", currency=currency, timezone=LAGOS
    )


def _timed(index: int) -> tuple[float, int]:
    name, currency = PEOPLE[index % len(PEOPLE)]
    started = time.perf_counter()
    pdf = render(index, name, currency)
    return time.perf_counter() - started, len(pdf)


def _text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


Draw = Callable[[int], Awaitable[bytes]]


async def _loop_lateness(
    draw: Draw, receipts: int, concurrency: int
) -> tuple[float, float, float]:
    """Draw ``receipts``, ``concurrency`` at a time, while a 1 ms ticker runs on the loop.

    Returns (worst lateness, p99 lateness, wall time) in seconds.
    """
    late: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            expected = loop.time() + 0.001
            await asyncio.sleep(0.001)
            late.append(max(0.0, loop.time() - expected))

    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            await draw(index)

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(receipts)))
    wall = time.perf_counter() - started
    done.set()
    await tick
    return max(late), percentile(late, 99), wall


async def run(ctx: Context) -> None:
    print("\n== receipts: PDF render time, size, event-loop blocking", flush=True)
    count = 20 if ctx.quick else 100
    # Cold: the first receipt of the process prepares the font subset (~0.5 s, once).
    started = time.perf_counter()
    render(0, *PEOPLE[0])
    cold_ms = (time.perf_counter() - started) * 1000
    warm = [_timed(i) for i in range(1, count + 1)]
    warm_ms = [t * 1000 for t, _ in warm]
    sizes = [size for _, size in warm]
    # Reference: the whole DejaVu Sans loaded for every receipt.
    with mock.patch.object(fonts, "covered", return_value=False):
        full_ms = [_timed(i)[0] * 1000 for i in range(1, count // 2 + 1)]
    ctx.results.add(
        Figure(
            "receipts",
            "first receipt of a process (prepares the font subset)",
            cold_ms,
            "ms",
            higher_is_better=False,
        )
    )
    warm_figure = Figure(
        "receipts",
        "render, warm, p50",
        percentile(warm_ms, 50),
        "ms",
        reference="full DejaVu font per receipt",
        reference_value=percentile(full_ms, 50),
        higher_is_better=False,
        target=f"≤ {TARGET_WARM_MS:.0f} ms",
        note=(
            f"p95 {percentile(warm_ms, 95):.1f} ms, {sum(sizes) / len(sizes) / 1024:.1f} KiB each"
        ),
    )
    warm_figure.met = warm_figure.value <= TARGET_WARM_MS
    ctx.results.add(warm_figure)
    name, currency = OUTSIDE_SUBSET
    started = time.perf_counter()
    outside = render(count + 1, name, currency)
    ctx.results.add(
        Figure(
            "receipts",
            "render, a name outside the subset (Georgian: full font)",
            (time.perf_counter() - started) * 1000,
            "ms",
            higher_is_better=False,
            note=f"{len(outside) / 1024:.1f} KiB",
        )
    )
    # Every name and currency sign is in the PDF's text.
    missing = [
        f"{n} {c.symbol}"
        for index, (n, c) in enumerate((*PEOPLE, OUTSIDE_SUBSET))
        if not {n, c.symbol} <= _contains(_text(render(500 + index, n, c)), n, c.symbol)
    ]
    # Blocking: receipts drawn by the bot's renderer (worker processes) and, for reference,
    # in threads as before, against a 1 ms ticker on the event loop.
    renderer = ReceiptRenderer()

    async def in_process(index: int) -> bytes:
        name, currency = PEOPLE[index % len(PEOPLE)]
        return await renderer.render(
            receipt(index, name), utility_name="City Power & Light", currency=currency,
            timezone=LAGOS,
        )  # fmt: skip

    async def in_thread(index: int) -> bytes:
        name, currency = PEOPLE[index % len(PEOPLE)]
        return await asyncio.to_thread(render, index, name, currency)

    async def no_receipt(index: int) -> bytes:
        await asyncio.sleep(0.025)  # as long as a receipt, using no CPU: the floor
        return b""

    try:
        await in_process(0)  # start the workers
        floor, _, _ = await _loop_lateness(no_receipt, count, 1)
        for concurrency in (1, 8):
            loop_cpu = time.thread_time()
            worst, p99, wall = await _loop_lateness(in_process, count, concurrency)
            loop_cpu = (time.thread_time() - loop_cpu) / count
            reference, reference_p99, _ = await _loop_lateness(in_thread, count, concurrency)
            ctx.results.add(
                Figure(
                    "receipts",
                    f"event-loop time per receipt, {concurrency} at a time",
                    loop_cpu * 1000,
                    "ms",
                    reference="drawn in a thread: worst loop stall",
                    reference_value=reference * 1000,
                    higher_is_better=False,
                    target=f"≤ {TARGET_BLOCK_MS:.0f} ms",
                    met=loop_cpu * 1000 <= TARGET_BLOCK_MS,
                    note=(
                        f"worker processes, {count / wall:.0f} receipts/s; 1 ms ticker late by "
                        f"≤ {worst * 1000:.1f} ms (p99 {p99 * 1000:.1f}), "
                        f"{floor * 1000:.1f} ms with no receipts at all; in a thread "
                        f"p99 {reference_p99 * 1000:.1f} ms"
                    ),
                )
            )
    finally:
        await renderer.close()
    print(
        "  every name and currency sign rendered"
        if not missing
        else f"  MISSING from the PDF text: {missing}"
    )


def _contains(text: str, *needles: str) -> set[str]:
    flat = "".join(text.split())
    return {n for n in needles if "".join(n.split()) in flat}
