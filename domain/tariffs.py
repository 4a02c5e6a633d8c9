"""Tariffs in the database: which version a customer's bill for a month is computed with,
and how staff manage them — the list, one tariff's history, a new version (never an
overwrite), a customer's tariff, and the tariff CSV (``run_bot.py tariffs import|export``).

A customer without a tariff is billed on the flat tariff made from ``DEFAULT_TARIFF``
(:func:`domain.billing.flat_tariff`); a bill keeps the version it was computed with
(``bills.tariff_version_id``; NULL for the flat tariff, whose rate the bill itself keeps).
The figures of a version are checked by :class:`domain.billing.Tariff` itself.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from domain import audit
from domain.billing import FLAT_TARIFF_CODE, Band, LateFeeRule, Tariff, check_bands, flat_tariff
from domain.db import Database, UnitOfWork, error_code
from domain.errors import (
    CustomerNotFound,
    ImportRejected,
    InvalidTariff,
    TariffDiffers,
    TariffNotFound,
    TariffVersionExists,
)
from domain.money import MAX_AMOUNT
from domain.validation import clean_text, refuse_control_characters

Row = dict[str, Any]


def tariff_from_rows(version: Row, bands: list[Row]) -> Tariff:
    """A tariff version from its row (tariff_version / customer_tariff_version) and bands."""
    cap = version["late_fee_cap"]
    return Tariff(
        code=version["tariff_code"],
        name=version["name"],
        customer_class=version["customer_class"],
        effective_from=version["effective_from"],
        bands=tuple(
            Band(
                Decimal(band["from_kwh"]),
                None if band["to_kwh"] is None else Decimal(band["to_kwh"]),
                Decimal(band["rate_per_kwh"]),
            )
            for band in bands
        ),
        fixed_charge=Decimal(version["fixed_charge"]),
        tax_percent=Decimal(version["tax_percent"]),
        late_fee=LateFeeRule(
            grace_days=int(version["grace_days"]),
            percent=Decimal(version["late_fee_percent"]),
            fixed=Decimal(version["late_fee_fixed"]),
            cap=None if cap is None else Decimal(cap),
        ),
        version_id=int(version["version_id"]),
    )


async def version(uow: UnitOfWork, version_id: int) -> Tariff | None:
    """One tariff version by id; None if there is none."""
    row = await uow.fetch_one("tariff_version", {"version_id": version_id})
    if row is None:
        return None
    bands = await uow.fetch_all("tariff_version_bands", {"version_id": version_id})
    return tariff_from_rows(row, bands)


async def in_force(
    uow: UnitOfWork, customer_id: int, billing_month: date, *, default_rate: Decimal
) -> Tariff:
    """The tariff a customer's bill for ``billing_month`` is computed with: the version of
    their tariff in force on the month's first day, else the flat ``default_rate``."""
    row = await uow.fetch_one(
        "customer_tariff_version", {"customer_id": customer_id, "billing_month": billing_month}
    )
    if row is None:
        return flat_tariff(default_rate)
    bands = await uow.fetch_all("tariff_version_bands", {"version_id": row["version_id"]})
    return tariff_from_rows(row, bands)


async def of_bill(uow: UnitOfWork, tariff_version_id: int | None, rate: Decimal) -> Tariff:
    """The tariff an issued bill was computed with (flat at its own rate when it has none)."""
    if tariff_version_id is not None:
        found = await version(uow, tariff_version_id)
        if found is not None:
            return found
    return flat_tariff(rate)


# ---------------------------------------------------------------------------------------------
# Reading what staff type (the chat and the CSV): each refusal is an InvalidTariff naming the
# field as the CSV does, with the value as given.

MAX_RATE = Decimal("99999999.9999")  # DECIMAL(12,4)
MAX_PERCENT = Decimal(100)
MAX_GRACE_DAYS = 365
# Decimals and largest value of each figure, as its column holds it.
FIGURES: dict[str, tuple[int, Decimal]] = {
    "band_from_kwh": (2, MAX_AMOUNT),
    "band_to_kwh": (2, MAX_AMOUNT),
    "rate_per_kwh": (4, MAX_RATE),
    "fixed_charge": (2, MAX_AMOUNT),
    "tax_percent": (2, MAX_PERCENT),
    "late_fee_percent": (2, MAX_PERCENT),
    "late_fee_fixed": (2, MAX_AMOUNT),
    "late_fee_cap": (2, MAX_AMOUNT),
}
_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
_DAY_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$", re.ASCII)
_CURRENCY_SIGN_RE = re.compile(r"^[^\d.\s-]{1,3}")
NAME_LIMIT = 200
CLASS_LIMIT = 50


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def figure(text: str, field: str) -> Decimal:
    """A tariff figure (``field`` names it as the CSV does): a number ≥ 0 with no more
    decimals than its column keeps (never rounded) and no larger than it holds."""
    places, maximum = FIGURES[field]
    cleaned = _ascii(text)
    if not cleaned.isascii() or not re.fullmatch(rf"\d{{1,10}}(\.\d{{1,{places}}})?", cleaned):
        raise InvalidTariff(field, text)
    value = Decimal(cleaned)
    if value > maximum:
        raise InvalidTariff(field, text)
    return value


def grace_days(text: str) -> int:
    """Whole days, 0 to 365."""
    cleaned = _ascii(text)
    if not cleaned.isascii() or not cleaned.isdigit() or int(cleaned) > MAX_GRACE_DAYS:
        raise InvalidTariff("grace_days", text)
    return int(cleaned)


def tariff_code(text: str) -> str:
    """A tariff's code: 1 to 32 letters, digits, ``-`` or ``_``, kept in capitals; ``FLAT``
    is the default tariff's and cannot be taken."""
    cleaned = _ascii(text).upper()
    if not cleaned.isascii() or not _CODE_RE.match(cleaned) or cleaned == FLAT_TARIFF_CODE:
        raise InvalidTariff("tariff_code", text)
    return cleaned


def tariff_name(text: str) -> str:
    """A tariff's name as people read it: 2 to 200 characters."""
    refuse_control_characters(text, "tariff name")
    cleaned = clean_text(text)
    if not 2 <= len(cleaned) <= NAME_LIMIT:
        raise InvalidTariff("name", text)
    return cleaned


def customer_class(text: str) -> str:
    """Who a tariff is for (``residential``, ``commercial``, …): 2 to 50 characters, lower
    case."""
    refuse_control_characters(text, "customer class")
    cleaned = clean_text(text).lower()
    if not 2 <= len(cleaned) <= CLASS_LIMIT:
        raise InvalidTariff("customer_class", text)
    return cleaned


def effective_from(text: str) -> date:
    """The first day a version applies: a month's first day (``2026-01-01``, or ``2026-01``),
    since a bill uses the version in force on its billing month's first day."""
    match = _DAY_RE.match(_ascii(text))
    if not match:
        raise InvalidTariff("effective_from", text)
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    if not 2000 <= year <= 2100 or not 1 <= month <= 12 or day != 1:
        raise InvalidTariff("effective_from", text)
    return date(year, month, 1)


def bands_from_text(text: str) -> tuple[Band, ...]:
    """Bands as staff type them: ``0-50 0.50, 50-150 0.75, 150+ 1.20`` (``150+``: open),
    or one rate alone (``68.50``) for a single band; checked as a version's bands are."""
    items = [item.strip() for item in re.split(r"[,;\n]", _ascii(text)) if item.strip()]
    if len(items) == 1 and " " not in items[0]:
        return (Band(Decimal(0), None, figure(_rate_text(items[0]), "rate_per_kwh")),)
    bands: list[Band] = []
    for item in items:
        match = re.fullmatch(r"(\S+?)\s*(?:-|–|to)\s*(\S+)\s+(\S+)", item) or re.fullmatch(
            r"(\S+?)\s*\+()\s+(\S+)", item
        )
        if match is None:
            raise InvalidTariff("bands", item)
        low, high, rate = match.groups()
        bands.append(
            Band(
                figure(low, "band_from_kwh"),
                figure(high, "band_to_kwh") if high else None,
                figure(_rate_text(rate), "rate_per_kwh"),
            )
        )
    if not bands:
        raise InvalidTariff("bands", text)
    check_bands(tuple(bands))
    return tuple(bands)


def bands_text(bands: tuple[Band, ...]) -> str:
    """Bands as :func:`bands_from_text` reads them: ``0-50 0.50, 50-150 0.75, 150+ 1.20``."""
    return ", ".join(
        f"{_plain(band.from_kwh)}+ {_plain(band.rate)}"
        if band.to_kwh is None
        else f"{_plain(band.from_kwh)}-{_plain(band.to_kwh)} {_plain(band.rate)}"
        for band in bands
    )


def _plain(number: Decimal) -> str:
    """``50.00`` → ``50``, ``0.5000`` → ``0.50``: no more zeros than a person would type."""
    text = f"{number:f}"
    if "." not in text:
        return text
    whole, fraction = text.split(".")
    fraction = fraction.rstrip("0")
    return whole if not fraction else f"{whole}.{fraction.ljust(2, '0')}"


def _rate_text(text: str) -> str:
    """A rate without the currency sign typed before it (``₦0.50``)."""
    return _CURRENCY_SIGN_RE.sub("", text)


# ---------------------------------------------------------------------------------------------
# Reading the tariffs


@dataclass(frozen=True)
class TariffSummary:
    """One tariff in the list: the start of its version in force (None: none yet)."""

    tariff_id: int
    code: str
    name: str
    customer_class: str
    in_force_from: date | None
    versions: int
    customers: int


@dataclass(frozen=True)
class TariffList:
    tariffs: list[TariffSummary]
    flat_customers: int  # customers with no tariff: billed at DEFAULT_TARIFF


@dataclass(frozen=True)
class TariffHistory:
    """A tariff with every version, newest first."""

    tariff_id: int
    code: str
    name: str
    customer_class: str
    versions: tuple[Tariff, ...]

    def in_force(self, day: date) -> Tariff | None:
        """The version a bill for the month starting ``day`` uses (None: none yet)."""
        return next((v for v in self.versions if v.effective_from <= day), None)


def _summary(row: Row) -> TariffSummary:
    return TariffSummary(
        tariff_id=int(row["tariff_id"]),
        code=row["tariff_code"],
        name=row["name"],
        customer_class=row["customer_class"],
        in_force_from=row["in_force_from"],
        versions=int(row.get("versions") or 0),
        customers=int(row.get("customers") or 0),
    )


async def list_tariffs(db: Database, *, today: date) -> TariffList:
    """Every tariff, by code, with the version in force ``today``."""
    found, flat = await db.read_batch(
        [("tariffs_in_force", {"today": today}), ("customers_on_flat_tariff", {})]
    )
    return TariffList([_summary(row) for row in found], int(flat[0]["customers"]))


async def history(db: Database, code: str) -> TariffHistory:
    """One tariff (by code, any case) and all its versions with their bands."""

    async def work(uow: UnitOfWork) -> TariffHistory:
        row = await uow.fetch_one("tariff_by_code", {"tariff_code": code.strip().upper()})
        if row is None:
            raise TariffNotFound(code)
        tariff_id = int(row["tariff_id"])
        versions, bands = await uow.fetch_batch(
            [
                ("tariff_versions_of", {"tariff_id": tariff_id}),
                ("tariff_bands_of", {"tariff_id": tariff_id}),
            ],
            end_read=True,
        )
        by_version: dict[int, list[Row]] = {}
        for band in bands:
            by_version.setdefault(int(band["version_id"]), []).append(band)
        return TariffHistory(
            tariff_id=tariff_id,
            code=row["tariff_code"],
            name=row["name"],
            customer_class=row["customer_class"],
            versions=tuple(
                tariff_from_rows(v, by_version.get(int(v["version_id"]), [])) for v in versions
            ),
        )

    return await db.read(work)


async def of_customer(db: Database, customer_id: int, *, today: date) -> TariffSummary | None:
    """A customer's tariff with the start of its version in force ``today`` (None: the flat
    default)."""
    row = await db.fetch_one("customer_tariff", {"customer_id": customer_id, "today": today})
    return None if row is None else _summary(row)


# ---------------------------------------------------------------------------------------------
# Adding versions, putting customers on tariffs


def _audit_data(tariff: Tariff, source: str) -> dict[str, Any]:
    return {
        "tariff": tariff.code,
        "name": tariff.name,
        "customer_class": tariff.customer_class,
        "effective_from": tariff.effective_from,
        "bands": bands_text(tariff.bands),
        "fixed_charge": tariff.fixed_charge,
        "tax_percent": tariff.tax_percent,
        "late_fee_percent": tariff.late_fee.percent,
        "late_fee_fixed": tariff.late_fee.fixed,
        "late_fee_cap": tariff.late_fee.cap,
        "grace_days": tariff.late_fee.grace_days,
        "source": source,
    }


async def _add_version(
    uow: UnitOfWork, tariff: Tariff, *, admin_id: int | None, source: str
) -> Tariff:
    """Write one version (and its tariff when the code is new) with its audit entry, in the
    caller's transaction. Refused, before anything is written, when the tariff already has a
    version from that day or names itself differently."""
    row = await uow.fetch_one("lock_tariff_by_code", {"tariff_code": tariff.code})
    try:
        if row is None:
            tariff_id = await uow.insert(
                "insert_tariff",
                {
                    "tariff_code": tariff.code,
                    "name": tariff.name,
                    "customer_class": tariff.customer_class,
                },
            )
        else:
            tariff_id = int(row["tariff_id"])
            for field in ("name", "customer_class"):
                stored, given = row[field], getattr(tariff, field)
                if stored != given:
                    raise TariffDiffers(tariff.code, field, stored, given)
            on_that_day = {"tariff_id": tariff_id, "effective_from": tariff.effective_from}
            if await uow.fetch_one("tariff_version_on", on_that_day) is not None:
                raise TariffVersionExists(tariff.code, tariff.effective_from)
        rule = tariff.late_fee
        version_id = await uow.insert(
            "insert_tariff_version",
            {
                "tariff_id": tariff_id,
                "effective_from": tariff.effective_from,
                "fixed_charge": tariff.fixed_charge,
                "tax_percent": tariff.tax_percent,
                "late_fee_percent": rule.percent,
                "late_fee_fixed": rule.fixed,
                "late_fee_cap": rule.cap,
                "grace_days": rule.grace_days,
                "admin_id": admin_id,
            },
        )
    except Exception as exc:
        # Another writer added the same tariff or version in between: the same refusal.
        if error_code(exc) == 1062:
            raise TariffVersionExists(tariff.code, tariff.effective_from) from exc
        raise
    for band_no, band in enumerate(tariff.bands, start=1):
        await uow.execute(
            "insert_tariff_band",
            {
                "version_id": version_id,
                "band_no": band_no,
                "from_kwh": band.from_kwh,
                "to_kwh": band.to_kwh,
                "rate_per_kwh": band.rate,
            },
        )
    await audit.record(
        uow,
        admin_id=admin_id,
        action="tariff.version",
        entity_type="tariff_version",
        entity_id=version_id,
        after=_audit_data(tariff, source),
    )
    return Tariff(
        code=tariff.code,
        name=tariff.name,
        customer_class=tariff.customer_class,
        effective_from=tariff.effective_from,
        bands=tariff.bands,
        fixed_charge=tariff.fixed_charge,
        tax_percent=tariff.tax_percent,
        late_fee=tariff.late_fee,
        version_id=version_id,
    )


async def add_version(db: Database, tariff: Tariff, *, admin_id: int | None) -> Tariff:
    """Add a version of ``tariff.code`` (the tariff is created if the code is new), audited;
    returns it with its ``version_id``. A version from the same day is refused
    (:class:`TariffVersionExists`), never overwritten: bills may have used it."""

    async def work(uow: UnitOfWork) -> Tariff:
        added = await _add_version(uow, tariff, admin_id=admin_id, source="chat")
        await uow.commit()
        return added

    return await db.transaction(work)


async def assign(
    db: Database, customer_id: int, code: str | None, *, admin_id: int | None
) -> str | None:
    """Put a customer on tariff ``code`` (None: the flat default), audited; returns the code
    they were on before (None: the flat default). Bills already issued keep their version."""

    async def work(uow: UnitOfWork) -> str | None:
        current = await uow.fetch_one("lock_customer_tariff", {"customer_id": customer_id})
        if current is None:
            raise CustomerNotFound()
        tariff_id, after = None, FLAT_TARIFF_CODE
        if code is not None:
            found = await uow.fetch_one("tariff_by_code", {"tariff_code": code.strip().upper()})
            if found is None:
                raise TariffNotFound(code)
            tariff_id, after = int(found["tariff_id"]), found["tariff_code"]
        before: str | None = current["tariff_code"]
        if current["tariff_id"] != tariff_id:
            await uow.execute(
                "set_customer_tariff", {"customer_id": customer_id, "tariff_id": tariff_id}
            )
            await audit.record(
                uow,
                admin_id=admin_id,
                action="customer.tariff",
                entity_type="customer",
                entity_id=customer_id,
                customer_id=customer_id,
                before={"tariff": before or FLAT_TARIFF_CODE},
                after={"tariff": after},
            )
        await uow.commit()
        return before

    return await db.transaction(work)


# ---------------------------------------------------------------------------------------------
# The tariff CSV: one row per band; the rows of a version repeat its figures.

CSV_COLUMNS = (
    "tariff_code",
    "name",
    "customer_class",
    "effective_from",
    "band_from_kwh",
    "band_to_kwh",
    "rate_per_kwh",
    "fixed_charge",
    "tax_percent",
    "late_fee_percent",
    "late_fee_fixed",
    "late_fee_cap",
    "grace_days",
)
# The columns every row of one version must repeat as its first row has them.
VERSION_COLUMNS = (
    "name",
    "customer_class",
    "fixed_charge",
    "tax_percent",
    "late_fee_percent",
    "late_fee_fixed",
    "late_fee_cap",
    "grace_days",
)
MAX_CSV_ERRORS = 50

# Why a figure was refused, in the CSV's words (the chat words its own, in handlers/).
CSV_RULES = {
    "tariff_code": "1 to 32 letters, digits, - or _ (FLAT is the default tariff's)",
    "name": "2 to 200 characters",
    "customer_class": "2 to 50 characters",
    "effective_from": "a month's first day, YYYY-MM-DD",
    "band_from_kwh": "bands start at 0 and each starts where the one before ends",
    "band_to_kwh": "above the band's start; empty (open-ended) on the last band only",
    "rate_per_kwh": "a number ≥ 0 with at most 4 decimals",
    "fixed_charge": "an amount ≥ 0 with at most 2 decimals",
    "tax_percent": "0 to 100, at most 2 decimals",
    "late_fee_percent": "0 to 100, at most 2 decimals",
    "late_fee_fixed": "an amount ≥ 0 with at most 2 decimals",
    "late_fee_cap": "an amount above 0, or empty for no cap",
    "grace_days": "whole days, 0 to 365",
    "bands": "at least one band",
}


def csv_problem(exc: InvalidTariff) -> str:
    """One refused figure as a CSV error says it."""
    value = "empty" if exc.value in (None, "") else repr(str(exc.value))
    rule = CSV_RULES.get(exc.field)
    return f"{exc.field} {value}: " + (rule or "not valid")


@dataclass
class _CsvVersion:
    line: int  # the version's first line
    cells: dict[str, str]  # its first row
    bands: list[tuple[int, Band]]


def _csv_band(cells: dict[str, str]) -> Band:
    to_text = cells["band_to_kwh"].strip()
    return Band(
        figure(cells["band_from_kwh"], "band_from_kwh"),
        figure(to_text, "band_to_kwh") if to_text else None,
        figure(cells["rate_per_kwh"], "rate_per_kwh"),
    )


def _csv_tariff(version: _CsvVersion, bands: tuple[Band, ...]) -> Tariff:
    cells = version.cells
    cap = cells["late_fee_cap"].strip()
    return Tariff(
        code=tariff_code(cells["tariff_code"]),
        name=tariff_name(cells["name"]),
        customer_class=customer_class(cells["customer_class"]),
        effective_from=effective_from(cells["effective_from"]),
        bands=bands,
        fixed_charge=figure(cells["fixed_charge"], "fixed_charge"),
        tax_percent=figure(cells["tax_percent"], "tax_percent"),
        late_fee=LateFeeRule(
            grace_days=grace_days(cells["grace_days"]),
            percent=figure(cells["late_fee_percent"], "late_fee_percent"),
            fixed=figure(cells["late_fee_fixed"], "late_fee_fixed"),
            cap=figure(cap, "late_fee_cap") if cap else None,
        ),
    )


def _checked_bands(version: _CsvVersion, errors: list[tuple[int, str]]) -> tuple[Band, ...]:
    """A version's bands, lowest first, each gap, overlap or misplaced open end reported on
    the line of the band at fault."""
    ordered = sorted(version.bands, key=lambda item: item[1].from_kwh)
    expected = Decimal(0)
    for index, (line, band) in enumerate(ordered):
        last = index == len(ordered) - 1
        if band.from_kwh != expected:
            where = f"start at {expected}" + (", where the one before ends" if index else "")
            errors.append((line, f"band_from_kwh {band.from_kwh}: this band should {where}"))
        if band.to_kwh is None and not last:
            errors.append((line, "band_to_kwh empty: only the last band may be open-ended"))
            break  # the bands after it have no start to be checked against
        if band.to_kwh is not None and last:
            errors.append((line, f"band_to_kwh {band.to_kwh}: the last band must be open (empty)"))
        elif band.to_kwh is not None and band.to_kwh <= band.from_kwh:
            errors.append((line, f"band_to_kwh {band.to_kwh}: not above its band's start"))
        if band.to_kwh is not None:
            expected = band.to_kwh
    return tuple(band for _, band in ordered)


def read_csv(text: str) -> list[tuple[int, Tariff]]:
    """The versions of a tariff CSV, each with its first line number, checked as far as can
    be without the database; any error raises :class:`ImportRejected` listing them all."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [cell.strip() for cell in next(reader, [])]
    if tuple(header) != CSV_COLUMNS:
        raise ImportRejected([(1, "The header must be exactly: " + ",".join(CSV_COLUMNS))])
    errors: list[tuple[int, str]] = []
    versions: dict[tuple[str, str], _CsvVersion] = {}
    for cells_list in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells_list):
            continue
        if len(cells_list) != len(CSV_COLUMNS):
            errors.append((line, f"{len(cells_list)} columns, expected {len(CSV_COLUMNS)}"))
            continue
        cells = dict(zip(CSV_COLUMNS, cells_list, strict=True))
        try:
            band = _csv_band(cells)
        except InvalidTariff as exc:
            errors.append((line, csv_problem(exc)))
            continue
        key = (_ascii(cells["tariff_code"]).upper(), _day_key(cells["effective_from"]))
        version = versions.get(key)
        if version is None:
            versions[key] = _CsvVersion(line, cells, [(line, band)])
            continue
        for column in VERSION_COLUMNS:
            if cells[column].strip() != version.cells[column].strip():
                errors.append(
                    (
                        line,
                        f"{column} {cells[column].strip()!r} differs from line {version.line} "
                        f"({version.cells[column].strip()!r}), a row of the same version",
                    )
                )
        version.bands.append((line, band))
    found: list[tuple[int, Tariff]] = []
    named: dict[str, tuple[int, Tariff]] = {}
    for version in versions.values():
        known = len(errors)
        bands = _checked_bands(version, errors)
        if len(errors) > known:
            continue  # said on the lines of the bands at fault
        try:
            tariff = _csv_tariff(version, bands)
        except InvalidTariff as exc:
            errors.append((version.line, csv_problem(exc)))
            continue
        first = named.setdefault(tariff.code, (version.line, tariff))
        for field in ("name", "customer_class"):
            if getattr(tariff, field) != getattr(first[1], field):
                errors.append(
                    (
                        version.line,
                        f"{field} {getattr(tariff, field)!r} differs from line {first[0]} "
                        f"({getattr(first[1], field)!r}) of the same tariff",
                    )
                )
        found.append((version.line, tariff))
    if errors:
        raise ImportRejected(sorted(errors)[:MAX_CSV_ERRORS])
    if not found:
        raise ImportRejected([(2, "The file has a header but no tariffs.")])
    return found


def _day_key(text: str) -> str:
    """The day a row's version starts, however it is written (``2026-01`` = ``2026-01-01``);
    as written when it is no day (the version's own check reports it)."""
    try:
        return effective_from(text).isoformat()
    except InvalidTariff:
        return _ascii(text)


@dataclass(frozen=True)
class ImportedTariffs:
    versions: list[Tariff]  # in the file's order, with their ids
    new_tariffs: list[str]  # codes created by the import


async def import_csv(db: Database, text: str, *, admin_id: int | None) -> ImportedTariffs:
    """Add every version of a tariff CSV in ONE transaction, or none: any line error (a
    figure, bands that do not cover 0 to ∞ without gaps, a version already present, a name or
    class other than the stored tariff's) raises :class:`ImportRejected` with every error by
    line number, and nothing is written. Each version added has its audit entry."""
    versions = read_csv(text)

    async def work(uow: UnitOfWork) -> ImportedTariffs:
        errors: list[tuple[int, str]] = []
        added: list[Tariff] = []
        new: list[str] = []
        for line, tariff in versions:
            existed = await uow.fetch_one("tariff_by_code", {"tariff_code": tariff.code})
            try:
                added.append(await _add_version(uow, tariff, admin_id=admin_id, source="csv"))
            except TariffVersionExists as exc:
                errors.append(
                    (
                        line,
                        f"tariff {exc.code} already has a version from {exc.effective_from}; "
                        "a version is never overwritten",
                    )
                )
                continue
            except TariffDiffers as exc:
                errors.append(
                    (
                        line,
                        f"{exc.field} {exc.given!r}: tariff {exc.code} is {exc.stored!r}; a "
                        "new version cannot rename it",
                    )
                )
                continue
            if existed is None:
                new.append(tariff.code)
        if errors:
            raise ImportRejected(sorted(errors)[:MAX_CSV_ERRORS])
        await uow.commit()
        return ImportedTariffs(added, new)

    return await db.transaction(work)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class ExportedTariffs:
    text: str  # the CSV
    versions: int  # how many versions it holds


async def export_csv(db: Database) -> ExportedTariffs:
    """Every version of every tariff as the tariff CSV (which :func:`import_csv` takes back
    into an empty database as it was)."""
    rows = await db.fetch_all("tariff_export")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    versions = len({(row["tariff_code"], row["effective_from"]) for row in rows})
    return ExportedTariffs(out.getvalue(), versions)
