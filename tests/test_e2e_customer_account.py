"""Customer account flows end to end: profile, password, logout, cancel, timeout, menus."""

from __future__ import annotations

from domain import admins, customers
from tests.e2e_support import Harness, activated_customer, harness, running_bot

__all__ = ["harness"]


async def test_profile_changes_are_validated_and_saved(harness: Harness) -> None:
    """A bad email is refused with a reason and changes nothing; a good phone is saved."""
    user = harness.server.user(6001, "Profile")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-30001")
        await user.send("/profile")
        await user.wait_for_reply()
        await user.press("Edit email")
        await user.wait_for_edit()
        await user.send("not-an-email <b>")
        refused = await user.wait_for_reply()
        await user.send("amina@example.com")
        saved = (await user.wait_for_reply()).body  # the message is edited later
        await user.press("Edit phone")
        await user.wait_for_edit()
        await user.send("+234 801 234 5678")
        await user.wait_for_reply()
    assert "email address like" in refused.body
    assert "amina@example.com" in saved
    stored = await customers.get(harness.admin_db, customer.customer_id)
    assert stored.email == "amina@example.com" and stored.phone_number == "+2348012345678"


async def test_a_customer_s_profile_change_shows_in_the_clerk_s_audit_log(
    harness: Harness,
) -> None:
    """Issue 14: a clerk saw a new address with no entry. The customer changes address and
    phone in /profile (typed as people type them: stored in E.164); /audit <meter> shows
    both changes, in words, by the customer; a markup email is refused."""
    user = harness.server.user(6007, "Mover")
    clerk = harness.server.user(6907, "Clerk")
    await admins.create_admin(
        harness.admin_db,
        admin_name="Front Desk",
        email="desk@utility.example",
        password="a-long-staff-password",
        telegram_user_id=6907,
    )
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-30007")
        await user.send("/profile")
        await user.wait_for_reply()
        await user.press("Edit address")
        await user.wait_for_edit()
        await user.send("12 New Road, Lagos")
        await user.wait_for_reply(predicate=lambda m: "Saved." in m.body)
        await user.press("Edit phone")
        await user.wait_for_edit()
        await user.send("0803 123 4567")
        saved = await user.wait_for_reply(predicate=lambda m: "Saved." in m.body)
        shown = saved.body  # the message is edited by the next button press
        await user.press("Edit email")
        await user.wait_for_edit()
        await user.send("<b>x</b>@example.com")
        refused = await user.wait_for_reply()
        await clerk.send("/audit MTR-30007")
        log = await clerk.wait_for_reply()
    assert "Phone: +2348031234567" in shown
    assert "email address like name@example.com" in refused.body
    assert (await customers.get(harness.admin_db, customer.customer_id)).email is None
    assert "Contact details changed" in log.body and "by the customer" in log.body
    assert f"Address: {customer.address} → 12 New Road, Lagos" in log.body, log.body
    assert "Phone: — → +2348031234567" in log.body, log.body


async def test_an_email_with_control_characters_is_refused_and_the_stored_one_kept(
    harness: Harness,
) -> None:
    """/profile → email with a NUL byte, then with an ANSI escape: each is refused with a reply
    naming the problem, and the email saved before is still the one stored."""
    user = harness.server.user(6006, "Control")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-30006")
        await user.send("/profile")
        await user.wait_for_reply()
        await user.press("Edit email")
        await user.wait_for_edit()
        await user.send("amina@example.com")
        await user.wait_for_reply(predicate=lambda m: "Saved." in m.body)
        await user.press("Edit email")
        await user.wait_for_edit()
        refusals = []
        for typed in ("a\x00b@example.com", "a\x1b[31mred@example.com"):
            await user.send(typed)  # each refusal asks again at the same prompt
            refusals.append((await user.wait_for_reply()).body)
    for body in refusals:
        assert "email address contains control characters" in body, body
        assert "Please try again, or /cancel." in body and "Saved." not in body
    stored = await customers.get(harness.admin_db, customer.customer_id)
    assert stored.email == "amina@example.com"


async def test_a_password_change_needs_the_current_password_and_two_equal_entries(
    harness: Harness,
) -> None:
    """Wrong current password → refused; mismatched entries → asked again; then it works."""
    user = harness.server.user(6002, "Pw")
    async with running_bot(harness):
        await activated_customer(harness, user, meter_number="MTR-30002")
        await user.send("/password")
        await user.wait_for_reply()
        await user.send("not-my-password")
        wrong = await user.wait_for_reply()
        await user.send("/password")
        await user.wait_for_reply()
        await user.send("correct-horse-1")
        await user.wait_for_reply()
        await user.send("brand-new-pass-2")
        await user.wait_for_reply()
        await user.send("brand-new-pass-3")
        differ = await user.wait_for_reply()
        await user.send("brand-new-pass-2")
        await user.wait_for_reply()
        await user.send("brand-new-pass-2")
        changed = await user.wait_for_reply()
        await user.send("/logout")
        out = await user.wait_for_reply()
        await user.send("/login")
        await user.wait_for_reply()
        await user.send("MTR-30002")
        await user.wait_for_reply()
        await user.send("brand-new-pass-2")
        back = await user.wait_for_reply()
    assert "do not match" in wrong.body
    assert "differ" in differ.body
    assert "has been changed" in changed.body
    assert "logged out" in out.body
    assert "logged in to meter MTR-30002" in back.body
    secrets_typed = [
        m
        for m in user.history()
        if not m.from_bot
        and m.text
        and not m.text.startswith("/")
        and ("pass" in m.text or "horse" in m.text)
    ]
    assert secrets_typed and all(m.deleted for m in secrets_typed)
    assert all("brand-new" not in (m.body or "") for m in user.messages())


async def test_cancel_ends_a_flow_and_a_silent_flow_times_out(harness: Harness) -> None:
    """/cancel changes nothing; a flow left alone is closed with a message."""
    user = harness.server.user(6003, "Slow")
    async with running_bot(harness, flow_timeout=1.0):
        await activated_customer(harness, user, meter_number="MTR-30003")
        await user.send("/login")
        await user.wait_for_reply()
        await user.send("/cancel")
        cancelled = await user.wait_for_reply()
        await user.send("/login")
        await user.wait_for_reply()
        timed_out = await user.wait_for_reply(timeout=5)
        await user.send("MTR-30003")
        after = await user.wait_for_reply()
    assert "Cancelled" in cancelled.body
    assert "closed it" in timed_out.body
    assert "not sure what you mean" in after.body


async def test_cancelling_a_profile_edit_after_a_save_says_what_was_saved(
    harness: Harness,
) -> None:
    """ "Cancelled. Nothing was changed." would be untrue once the phone number is saved."""
    user = harness.server.user(6007, "Saver")
    async with running_bot(harness):
        await activated_customer(harness, user, meter_number="MTR-30007")
        await user.send("/profile")
        await user.wait_for_reply()
        await user.press("Edit phone")
        await user.wait_for_edit()
        await user.send("+234 801 234 5678")
        await user.wait_for_reply()
        await user.press("Edit email")
        await user.wait_for_edit()
        await user.send("/cancel")
        cancelled = await user.wait_for_reply()
    assert cancelled.body == (
        "Cancelled. Your new phone number is already saved; nothing else was changed."
    )


async def test_customers_see_the_customer_menu_and_an_unknown_command_is_answered(
    harness: Harness,
) -> None:
    """The default command menu is the customer's; unknown commands get a friendly reply."""
    user = harness.server.user(6004, "Menu")
    async with running_bot(harness):
        await user.send("/frobnicate")
        unknown = await user.wait_for_reply()
    commands = [name for name, _ in user.menu()]
    assert "pay" in commands and "dashboard" in commands and "voidpayment" not in commands
    assert "don't know that command" in unknown.body


async def test_adminlogout_from_a_stranger_is_just_an_unknown_command(harness: Harness) -> None:
    """/adminlogout tells a non-admin nothing about staff accounts."""
    user = harness.server.user(6005, "Nosy")
    async with running_bot(harness):
        await user.send("/adminlogout")
        answer = await user.wait_for_reply()
    assert "don't know that command" in answer.body and "staff" not in answer.body
