"""The utility-scale data set: N customers × M monthly bills with a realistic payment history.

Default 100,000 × 12 = 1.2M bills and about 1.1M payments. Rows are generated in Python (money
in integer cents, rounded half up as the domain does), written as tab-separated chunk files of
at most :data:`CHUNK_BYTES` and loaded with ``LOAD DATA LOCAL INFILE`` while the next chunk is
being generated. Chunks stay far below 16 MiB: aiomysql 0.3.2 (and the server's
``max_allowed_packet``) break on bigger LOAD DATA LOCAL files.

The mix: older months are mostly paid (88% paid, 5% partly paid, 7% unpaid), the newest month
is half paid; most payments are made in the last days before the due date; 3% of paid bills
were paid in two instalments; 0.3% of bills also carry a voided payment.
"""

from __future__ import annotations

import queue
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from domain.bills import default_due_date
from domain.reports import month_add

CHUNK_BYTES = 8 * 1024 * 1024
RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LAGOS = timedelta(hours=1)

FIRST_NAMES = (
    "Amina", "Bola", "Chidi", "Dayo", "Efe", "Funke", "Gbenga", "Halima", "Ifeoma", "Jide",
    "Kemi", "Lanre", "Musa", "Ngozi", "Ọlá", "Ṣadé", "Tunde", "Uche", "Yẹmi", "Zainab",
    "Adébáyọ̀", "Chiamaka", "Ẹniọlá", "Kwame", "Ama", "Kofi", "Fatima", "Ibrahim", "Ada", "Obi",
)  # fmt: skip
SURNAMES = (
    "Bello", "Ade", "Eze", "Ola", "Uche", "Ayo", "Okafor", "Adeyemi", "Balogun", "Nwosu",
    "Ọ̀ṣúnfúnkẹ́", "Adéṣínà", "Mensah", "Asante", "Abubakar", "Danjuma", "Ìdòwú", "Ògúnlèyè",
    "Chukwu", "Olaniyan",
)  # fmt: skip
STREETS = (
    "Marina Road", "Allen Avenue", "Awolowo Way", "Herbert Macaulay Way", "Bode Thomas Street",
    "Ọ̀kè-Àdó Close", "Independence Avenue", "Aminu Kano Crescent",
)  # fmt: skip
CITIES = ("Lagos", "Ibadan", "Abuja", "Kano", "Port Harcourt", "Ẹ̀kọ́")
# (method, weight): how customers pay.
METHODS = (("mobile_money", 40), ("card", 30), ("bank_transfer", 20), ("cash", 6), ("pos", 4))
# (rate in 1/10,000 of a currency unit, weight): three tariff classes.
RATES = ((685_000, 70), (524_000, 20), (612_345, 10))


@dataclass(frozen=True)
class DataSet:
    customers: int
    months: int
    as_of: date  # "today" for the data: the newest bill is for the month before this one

    @property
    def billing_months(self) -> list[date]:
        newest = month_add(self.as_of.replace(day=1), -1)
        return [month_add(newest, -(self.months - 1 - i)) for i in range(self.months)]


@dataclass
class LoadReport:
    customers: int = 0
    bills: int = 0
    payments: int = 0
    bytes: int = 0
    seconds: float = 0.0


# Generated receipt numbers spell the payment id in hexadecimal with letters from the receipt
# alphabet, so they are unique (real ones are random) and look like the real thing.
_RECEIPT_DIGITS = str.maketrans("0123456789ABCDEF", "ABCDEFGHJKLMNPQR")


def _receipt(day: str, payment_id: int) -> str:
    """``EB-yymmdd-XXXXXXXX`` for a payment made on ``day`` (``YYYY-MM-DD``)."""
    return f"EB-{day[2:4]}{day[5:7]}{day[8:10]}-{f'{payment_id:08X}'.translate(_RECEIPT_DIGITS)}"


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _rate(ten_thousandths: int) -> str:
    return f"{ten_thousandths // 10_000}.{ten_thousandths % 10_000:04d}"


class _Writer:
    """Collects one table's lines and hands full chunk files to the loader."""

    def __init__(self, table: str, columns: str, directory: Path, out: queue.Queue[object]):
        self.table = table
        self.columns = columns
        self.directory = directory
        self.out = out
        self.lines: list[str] = []
        self.size = 0
        self.count = 0
        self.files = 0

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += (
            len(line) + 8
        )  # UTF-8 may be longer than the characters; stay on the safe side
        self.count += 1
        if self.size >= CHUNK_BYTES - 64 * 1024:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        path = self.directory / f"{self.table}-{self.files:04d}.tsv"
        self.files += 1
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        self.lines, self.size = [], 0
        self.out.put((self.table, self.columns, path))


def generate(data: DataSet, directory: Path, out: queue.Queue[object], seed: int = 6) -> None:
    """Write the data set as chunk files, handing each to ``out``; None marks the end."""
    rng = random.Random(seed)
    customers = _Writer(
        "customers",
        "customer_id, meter_number, full_name, address, phone_number",
        directory,
        out,
    )
    bills = _Writer(
        "bills",
        "bill_id, customer_id, billing_month, units_used, rate_per_unit, total_amount, "
        "amount_paid, payment_status, due_date",
        directory,
        out,
    )
    payments = _Writer(
        "payments",
        "payment_id, bill_id, date_of_payment, amount_paid, payment_method, billing_month, "
        "payment_status, receipt_number, bill_total, paid_to_date, units_used, rate_per_unit, "
        "idempotency_key, voided_at, void_reason",
        directory,
        out,
    )
    months = data.billing_months
    month_texts = [m.isoformat() for m in months]
    # Due dates as seconds since the epoch at UTC midnight: payment times are integer sums.
    epoch = date(1970, 1, 1)
    # Each month's bills were issued as the month began (history): due 14 days after it ends.
    dues = [default_due_date(m, 14, issued_on=m) for m in months]
    due_seconds = [(due - epoch).days * 86_400 for due in dues]
    latest = (data.as_of - epoch).days * 86_400
    day_text: dict[int, str] = {}
    method_table = [m for m, weight in METHODS for _ in range(weight)]
    rate_table = [r for r, weight in RATES for _ in range(weight)]
    random_ = rng.random
    bill_id = 0
    payment_id = 0

    def pay_time(due: int, days_before: int) -> tuple[str, str, int]:
        """(day, timestamp text, seconds): Lagos office hours, in UTC, never after "today"."""
        moment = due - days_before * 86_400 + int(6 * 3600 + random_() * 16 * 3600) - 3600
        if moment >= latest:
            moment = latest - 60 - int(random_() * 86_000)
        day_number, second = divmod(moment, 86_400)
        day = day_text.get(day_number)
        if day is None:
            day = day_text[day_number] = (epoch + timedelta(days=day_number)).isoformat()
        hours, rest = divmod(second, 3600)
        stamp = f"{day} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{int(random_() * 1e6):06d}"
        return day, stamp, moment

    def payment_line(
        bid: int, when: tuple[str, str, int], cents: int, status: str, month: str, total: int,
        paid: int, units: str, rate: str, voided: bool,
    ) -> None:  # fmt: skip
        nonlocal payment_id
        payment_id += 1
        method = method_table[int(random_() * 100)]
        day, stamp, _ = when
        void = f"{stamp[:11]}23:59:59.000000\tkeyed twice" if voided else "\\N\t\\N"
        payments.add(
            f"{payment_id}\t{bid}\t{stamp}\t{_money(cents)}\t{method}\t{month}\t"
            f"{status}\t{_receipt(day, payment_id)}\t{_money(total)}\t{_money(paid)}\t"
            f"{units}\t{rate}\tgen-{payment_id}\t{void}"
        )

    for customer_id in range(1, data.customers + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        address = f"{rng.randrange(1, 400)} {rng.choice(STREETS)}, {rng.choice(CITIES)}"
        phone = f"+23480{rng.randrange(10_000_000, 99_999_999)}"
        customers.add(f"{customer_id}\tMTR-{customer_id:07d}\t{name}\t{address}\t{phone}")
        rate_tt = rate_table[int(random_() * 100)]
        rate = _rate(rate_tt)
        for index in range(len(months)):
            month_text, due = month_texts[index], due_seconds[index]
            bill_id += 1
            units_h = 8_000 + int(random_() * 52_000)
            units = _money(units_h)
            total = (units_h * rate_tt + 5_000) // 10_000
            newest = index == len(months) - 1
            roll = random_()
            if roll < (0.50 if newest else 0.88):
                status, paid = "paid", total
            elif roll < (0.60 if newest else 0.93):
                status, paid = "partial", max(1, total * (20 + int(random_() * 60)) // 100)
            else:
                status, paid = "unpaid", 0
            bills.add(
                f"{bill_id}\t{customer_id}\t{month_text}\t{units}\t{rate}\t{_money(total)}\t"
                f"{_money(paid)}\t{status}\t{dues[index].isoformat()}"
            )
            if random_() < 0.003:  # a payment keyed twice, voided by the office
                cents = max(1, total // 2)
                payment_line(
                    bill_id, pay_time(due, int(random_() * 20)), cents,
                    "partial" if cents < total else "paid", month_text, total, cents, units,
                    rate, True,
                )  # fmt: skip
            if paid == 0:
                continue
            # Most pay in the last days before the due date; some early, some late.
            roll = random_()
            days_before = (
                int(random_() * 5)
                if roll < 0.7
                else 5 + int(random_() * 10)
                if roll < 0.9
                else -1 - int(random_() * 29)
            )
            if status == "paid" and random_() < 0.03:  # two instalments
                first = max(1, total * (20 + int(random_() * 50)) // 100)
                early = pay_time(due, days_before + 5 + int(random_() * 10))
                later = pay_time(due, days_before)
                if later[2] <= early[2]:
                    early, later = later, early
                payment_line(
                    bill_id, early, first, "partial", month_text, total, first, units, rate, False
                )
                payment_line(
                    bill_id, later, total - first, "paid", month_text, total, total, units, rate,
                    False,
                )  # fmt: skip
            else:
                payment_line(
                    bill_id, pay_time(due, days_before), paid, status, month_text, total, paid,
                    units, rate, False,
                )  # fmt: skip
    for writer in (customers, bills, payments):
        writer.flush()
    out.put(None)


def load(data: DataSet, conn: object, *, seed: int = 6) -> LoadReport:
    """Generate and load the data set into the (empty) tables over a PyMySQL connection."""
    import pymysql

    assert isinstance(conn, pymysql.connections.Connection)
    report = LoadReport()
    started = time.perf_counter()
    files: queue.Queue[object] = queue.Queue(maxsize=4)  # bounds disk and memory use
    with tempfile.TemporaryDirectory(prefix="ebb-bench-data-") as tmp:
        failure: list[BaseException] = []

        def produce() -> None:
            try:
                generate(data, Path(tmp), files, seed)
            except BaseException as exc:  # handed to the loading thread
                failure.append(exc)
                files.put(None)

        producer = threading.Thread(target=produce, name="dataset-generator", daemon=True)
        producer.start()
        with conn.cursor() as cur:
            # Generated rows are consistent by construction; checking keys row by row would
            # only slow the load down (the unique keys are still built).
            cur.execute("SET SESSION foreign_key_checks = 0")
            cur.execute("SET SESSION unique_checks = 0")
            while (item := files.get()) is not None:
                assert isinstance(item, tuple)
                table, columns, path = item
                report.bytes += path.stat().st_size
                loaded = cur.execute(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                    f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({columns})",
                    (str(path),),
                )
                setattr(report, table, getattr(report, table) + int(loaded))
                path.unlink()
            cur.execute("SET SESSION foreign_key_checks = 1")
            cur.execute("SET SESSION unique_checks = 1")
        producer.join()
        if failure:
            raise failure[0]
    report.seconds = time.perf_counter() - started
    return report


def iter_csv_rows(meters: list[str], month: date, rows: int, seed: int = 7) -> Iterator[str]:
    """Lines of an /importbills file for ``month``: one per meter, units with two decimals."""
    rng = random.Random(seed)
    yield "meter_number,billing_month,units_used,rate_per_unit"
    for meter in meters[:rows]:
        units = _money(rng.randrange(8_000, 60_000))
        rate = "" if rng.random() < 0.7 else _rate(rng.choice(RATES)[0])
        yield f"{meter},{month:%Y-%m},{units},{rate}"
