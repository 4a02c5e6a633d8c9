-- Grants for the two application accounts (SPEC §3). {db}, {admin_user}, {customer_user} and
-- {host} are identifiers checked by domain/schema.py before they are put in.

-- The admin account: everything on the billing database only (no GRANT OPTION).
GRANT ALL PRIVILEGES ON `{db}`.* TO '{admin_user}'@'{host}';

-- The customer account: only what the customer-facing flows need. No DELETE anywhere,
-- nothing on admins or audit_log.
GRANT SELECT ON `{db}`.customers TO '{customer_user}'@'{host}';
GRANT UPDATE (phone_number, email, address, password_hash, telegram_user_id)
    ON `{db}`.customers TO '{customer_user}'@'{host}';
GRANT SELECT ON `{db}`.bills TO '{customer_user}'@'{host}';
GRANT UPDATE (amount_paid, payment_status) ON `{db}`.bills TO '{customer_user}'@'{host}';
GRANT SELECT, INSERT ON `{db}`.payments TO '{customer_user}'@'{host}';
GRANT SELECT, UPDATE (used_at) ON `{db}`.activation_codes TO '{customer_user}'@'{host}';
GRANT SELECT, INSERT, UPDATE ON `{db}`.login_throttle TO '{customer_user}'@'{host}';
-- Report totals (migration 0003): a customer's payment moves them in its own transaction.
-- SELECT because "owed = owed + VALUES(owed)" reads the row it updates; no DELETE.
GRANT SELECT, INSERT, UPDATE ON `{db}`.bill_totals TO '{customer_user}'@'{host}';
GRANT SELECT, INSERT, UPDATE ON `{db}`.payment_totals TO '{customer_user}'@'{host}';
GRANT SELECT, INSERT, UPDATE ON `{db}`.customer_balances TO '{customer_user}'@'{host}';
