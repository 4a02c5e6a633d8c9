-- Grants for the two application accounts (SPEC §3). {db}, {admin_user}, {customer_user} and
-- {host} are identifiers checked by domain/schema.py before they are put in. init-db revokes
-- everything from both accounts first, so a privilege taken out of this file is taken away.

-- The admin account: everything on the billing database only (no GRANT OPTION). That covers
-- every table a migration adds, e.g. migration 0024's processed_updates and job_runs, which
-- the bot claims with this account alone (the customer account has nothing on them).
GRANT ALL PRIVILEGES ON `{db}`.* TO '{admin_user}'@'{host}';

-- The customer account: only what the customer-facing flows need. No DELETE anywhere,
-- nothing on admins, the audit log or the report totals (migration 0005's triggers move the
-- totals with the definer's rights, in the statement that changes the rows they sum).
GRANT SELECT ON `{db}`.customers TO '{customer_user}'@'{host}';
GRANT UPDATE (phone_number, email, address, password_hash, telegram_user_id)
    ON `{db}`.customers TO '{customer_user}'@'{host}';
GRANT SELECT ON `{db}`.bills TO '{customer_user}'@'{host}';
-- A bill's lines (migration 0017): what /bills and a statement show a customer of their bill.
GRANT SELECT ON `{db}`.bill_lines TO '{customer_user}'@'{host}';
-- The seed's model: a customer's payment moves their bill. The triggers of migration 0005
-- refuse any amount_paid that is not the sum of the bill's payments.
GRANT UPDATE (amount_paid, payment_status) ON `{db}`.bills TO '{customer_user}'@'{host}';
-- A payment made in the chat: never one recorded by staff, never one already void (those
-- columns are not in the list, so naming them is refused).
GRANT SELECT ON `{db}`.payments TO '{customer_user}'@'{host}';
GRANT INSERT (bill_id, date_of_payment, amount_paid, payment_method, billing_month,
              payment_status, receipt_number, idempotency_key, bill_total, paid_to_date,
              units_used, rate_per_unit)
    ON `{db}`.payments TO '{customer_user}'@'{host}';
-- A receipt's details as they were at payment time (migration 0012), written by the payments
-- trigger with the definer's rights: the customer account only reads them.
GRANT SELECT ON `{db}`.payment_receipts TO '{customer_user}'@'{host}';
-- Card payments (migration 0006): a customer asks for an invoice for their own bill, and the
-- pre-checkout answer reads it. The charges Telegram reports, and every credit entry, are
-- recorded by the admin account (the bot's record of money a provider took); a payment from
-- credit takes the credit through the payments triggers, with no privilege of its own.
GRANT SELECT, INSERT (reference, customer_id, bill_id, amount, currency, expires_at)
    ON `{db}`.invoices TO '{customer_user}'@'{host}';
GRANT SELECT, UPDATE (used_at) ON `{db}`.activation_codes TO '{customer_user}'@'{host}';
GRANT SELECT, INSERT, UPDATE ON `{db}`.login_throttle TO '{customer_user}'@'{host}';

-- Payment claims (migration 0007): a customer files a claim ("I paid by transfer, reference
-- …") and reads its own; only staff decide one. The INSERT names its columns, without status,
-- the decision columns (decided_at, decided_by_admin_id, reject_reason) and payment_id, so the
-- customer account cannot file a claim already confirmed (the table's trigger refuses that
-- from any writer as well); no UPDATE, so it cannot confirm one either. A claim moves no money.
GRANT SELECT ON `{db}`.payment_claims TO '{customer_user}'@'{host}';
GRANT INSERT (customer_id, bill_id, amount, payment_method, reference)
    ON `{db}`.payment_claims TO '{customer_user}'@'{host}';

-- Meter readings (migrations 0017, 0019): a customer submits their own reading (typed, with
-- an optional photo of the meter) and reads their readings. The INSERT names only the
-- reading's figure, month, customer and photo: source takes its default, 'customer', and the
-- table's trigger makes the row pending, whatever is sent. No UPDATE: only staff accept,
-- correct or reject a submission.
GRANT SELECT ON `{db}`.meter_readings TO '{customer_user}'@'{host}';
GRANT INSERT (customer_id, billing_month, reading, photo_file_id)
    ON `{db}`.meter_readings TO '{customer_user}'@'{host}';
