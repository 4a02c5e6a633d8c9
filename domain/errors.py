"""Domain exceptions. They carry their figures as data (money as Decimal) and a plain
message for logs and for whoever has no better words; what people read in the chat is chosen
in handlers/ (handlers/words.py explains the money errors, with the configured currency)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal


class DomainError(Exception):
    """A rule of the business refused the request; the message says why in plain words."""


class NotFound(DomainError):
    """The thing asked for does not exist (or is not yours to see)."""


class CustomerNotFound(NotFound):
    def __init__(self, meter_number: str | None = None) -> None:
        super().__init__(
            "No customer has that meter number." if meter_number else "Customer not found."
        )


class BillNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("That bill could not be found.")


class PaymentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("That payment could not be found.")


class AdminNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("That admin could not be found.")


class DuplicateMeterNumber(DomainError):
    def __init__(self, meter_number: str) -> None:
        super().__init__(f"A customer with meter number {meter_number} already exists.")


class DuplicateAdmin(DomainError):
    def __init__(self) -> None:
        super().__init__("An admin with that name or email already exists.")


class DuplicateBill(DomainError):
    def __init__(self, billing_month: str) -> None:
        super().__init__(f"This customer already has a bill for {billing_month}.")


class InvalidInput(DomainError):
    """A value typed by someone is not acceptable; the message says what is expected."""


class ControlCharacters(InvalidInput):
    """Typed text holds control characters (NUL, ESC…); ``what`` names the field."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"That {what} contains control characters (such as NUL or ESC), "
            "which cannot be stored."
        )
        self.what = what


class BillAlreadyPaid(DomainError):
    def __init__(self) -> None:
        super().__init__("This bill is already fully paid; no further payment is needed.")


class InvalidAmount(DomainError):
    def __init__(self, reason: str = "The amount must be greater than zero.") -> None:
        super().__init__(reason)


class WrongCurrency(InvalidAmount):
    """An amount typed in another currency: ``typed`` is its code or sign as typed (``USD``,
    ``$``), ``expected`` the configured currency's code."""

    def __init__(self, typed: str, expected: str) -> None:
        super().__init__(f"Amounts are in {expected}; {typed} is another currency.")
        self.typed = typed
        self.expected = expected


class AmountExceedsBalance(DomainError):
    """A payment (or invoice) of more than the bill's ``outstanding`` balance."""

    def __init__(self, outstanding: Decimal) -> None:
        super().__init__(f"The amount is more than the outstanding balance of {outstanding:,.2f}.")
        self.outstanding = outstanding


class IdempotencyKeyReused(DomainError):
    def __init__(self) -> None:
        super().__init__("This confirmation belongs to another payment. Please start again.")


class PaymentAlreadyVoided(DomainError):
    def __init__(self) -> None:
        super().__init__("That payment has already been voided.")


class TotalBelowPaid(DomainError):
    """A bill's new total would be below the ``paid`` amount already paid on it."""

    def __init__(self, paid: Decimal) -> None:
        super().__init__(
            f"The new total would be less than the {paid:,.2f} already paid on this bill. "
            "Void a payment first if the bill really is smaller."
        )
        self.paid = paid


class InvalidTariff(InvalidInput):
    """A tariff figure out of bounds: ``field`` names it as the tariff CSV does
    (``band_from_kwh``, ``tax_percent``, …; ``bands`` for none at all), ``value`` as given."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"The tariff's {field} is not valid: {value}.")
        self.field = field
        self.value = value


class AuthenticationFailed(DomainError):
    def __init__(self) -> None:
        super().__init__("Those details do not match our records.")


class TooManyAttempts(DomainError):
    """Logins are locked for about ``minutes`` more minutes (at least 1)."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        super().__init__(
            f"Too many wrong attempts. Please try again in about {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        )


class ActivationCodeInvalid(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "This activation link is not valid or has already been used. "
            "Please ask the utility office for a new one."
        )


class ActivationCodeExpired(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "This activation link has expired. Please ask the utility office for a new one."
        )


class PermissionDenied(DomainError):
    def __init__(self) -> None:
        super().__init__("Your role does not allow this action.")


class DatabaseUnavailable(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "The service is temporarily unavailable. Nothing was charged; please try again "
            "in a minute."
        )


class CommitOutcomeUnknown(DatabaseUnavailable):
    """The connection was lost after a COMMIT was sent and no later attempt could look again:
    what it wrote may have been saved, or not."""

    def __init__(self) -> None:
        DomainError.__init__(
            self,
            "The service is temporarily unavailable and I could not confirm whether this was "
            "saved. Please check again in a minute before repeating it.",
        )


class PaymentOutcomeUnknown(CommitOutcomeUnknown):
    """The connection was lost after a payment's COMMIT was sent: it may have been recorded."""

    def __init__(self) -> None:
        DomainError.__init__(
            self,
            "The service is temporarily unavailable and I could not confirm whether this "
            "payment went through. Please press Confirm again in a minute: if it was recorded "
            "you will get its receipt; it is never charged twice.",
        )


class ImportRejected(DomainError):
    """A bulk file had bad lines; nothing was written. ``errors`` holds (line, message)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        count = len(errors)
        super().__init__(
            f"{count} line{'s' if count != 1 else ''} of the file "
            f"{'have' if count != 1 else 'has'} errors; nothing was imported."
        )
        self.errors = errors


# ---------------------------------------------------------------------------------------------
# Real money (issue 13): card payments, credit


class PaymentNotTaken(DomainError):
    """A customer tried to record a payment no provider took and no staff member checked."""

    def __init__(self, method: str) -> None:
        super().__init__(
            "Card payments go through the payment screen, and transfers are checked by our "
            "staff before they count; this payment was not recorded."
        )
        self.method = method


class InsufficientCredit(DomainError):
    """A payment from credit asked for more than the customer's ``credit``."""

    def __init__(self, credit: Decimal) -> None:
        super().__init__(f"Your account credit is {credit:,.2f}: that is not enough.")
        self.credit = credit


class InvoiceRefused(DomainError):
    """A pre-checkout was refused; ``reason`` says which check failed (the handler words it):
    unknown, not_yours, already_paid, cancelled, expired, bill_paid, balance_changed (with
    the bill's ``outstanding`` now) or amount_mismatch."""

    def __init__(self, reason: str, *, outstanding: Decimal | None = None) -> None:
        super().__init__(f"This invoice cannot be paid ({reason}); nothing was charged.")
        self.reason = reason
        self.outstanding = outstanding


class CardAmountOutOfBounds(DomainError):
    """Telegram takes no invoice below ``minimum`` or above ``maximum`` in this currency
    (both None: it takes no card payments in this currency at all)."""

    def __init__(self, minimum: Decimal | None, maximum: Decimal | None) -> None:
        super().__init__(
            "Card payments are not available in this currency."
            if minimum is None or maximum is None
            else f"Card payments must be between {minimum:,.2f} and {maximum:,.2f}."
        )
        self.minimum = minimum
        self.maximum = maximum


class CreditRefundRefused(DomainError):
    """A refund of credit refused: without a valid reason (the message says what a reason
    needs), or of more than the customer's ``credit`` (:class:`RefundExceedsCredit`)."""

    def __init__(self, message: str, *, credit: Decimal | None = None) -> None:
        super().__init__(message)
        self.credit = credit


class RefundExceedsCredit(CreditRefundRefused, InvalidAmount):
    """A refund of more than the customer's ``credit``."""

    def __init__(self, credit: Decimal) -> None:
        super().__init__(f"The customer's credit is only {credit:,.2f}.", credit=credit)


# ---------------------------------------------------------------------------------------------
# Bringing in the original system's data (issue 14)


class LegacySchemaMismatch(DomainError):
    """The old database lacks a table or column the import reads; ``missing`` says which."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            "The old database is not the original system's: " + "; ".join(missing) + "."
        )
        self.missing = missing


class ReadingBelowPrevious(InvalidInput):
    """A meter reading lower than the one before it that cannot be a rollover;
    ``previous_month`` is the month of the previous reading, when known."""

    def __init__(
        self, *, previous: Decimal, current: Decimal, previous_month: date | None = None
    ) -> None:
        super().__init__(f"The reading {current} is lower than the previous reading {previous}.")
        self.previous = previous
        self.current = current
        self.previous_month = previous_month


# ---------------------------------------------------------------------------------------------
# Tariffs (issue 15)


class TariffNotFound(NotFound):
    """No tariff has the code ``code`` (as given)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"No tariff has the code {code}.")
        self.code = code


class TariffVersionExists(DomainError):
    """Tariff ``code`` already has a version from ``effective_from``: a version is never
    overwritten (bills may have been computed with it)."""

    def __init__(self, code: str, effective_from: date) -> None:
        super().__init__(f"Tariff {code} already has a version from {effective_from}.")
        self.code = code
        self.effective_from = effective_from


class TariffDiffers(DomainError):
    """A new version of tariff ``code`` gives its ``field`` (``name`` or ``customer_class``)
    as ``given``, but the tariff holds ``stored``: a version changes figures, not the tariff."""

    def __init__(self, code: str, field: str, stored: str, given: str) -> None:
        super().__init__(f"Tariff {code} has {field} {stored!r}, not {given!r}.")
        self.code = code
        self.field = field
        self.stored = stored
        self.given = given


class BillRunInProgress(DomainError):
    """Another bill run holds the month's turn (``started_at``: when it began, UTC)."""

    def __init__(self, *, billing_month: date, started_at: datetime | None) -> None:
        super().__init__(f"A bill run for {billing_month:%Y-%m} is already running.")
        self.billing_month = billing_month
        self.started_at = started_at


class BillRunTurnLost(DomainError):
    """A bill run stopped: another run took the month's turn after this one fell silent
    (what it had issued stays; running it again issues the rest)."""

    def __init__(self, *, billing_month: date) -> None:
        super().__init__(f"The bill run for {billing_month:%Y-%m} lost its turn.")
        self.billing_month = billing_month
