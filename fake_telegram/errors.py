"""What the phone-user side raises when a test's request of the fake user cannot be met."""

from __future__ import annotations


class FakeTelegramError(Exception):
    """Something a test asked of the fake user could not be done."""


class NoReplyError(FakeTelegramError, TimeoutError):
    """The bot did not answer as expected in time."""


class ButtonNotFoundError(FakeTelegramError, LookupError):
    """No button with the given label is on screen."""


class UnexpectedReplyError(FakeTelegramError, AssertionError):
    """The bot answered when it should have stayed silent."""
