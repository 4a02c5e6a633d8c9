-- name: insert_admin
-- Add an admin.
INSERT INTO admins (admin_name, email, password_hash, role, telegram_user_id)
VALUES (:admin_name, :email, :password_hash, :role, :telegram_user_id)

-- name: get_admin
-- One admin by id.
SELECT admin_id, admin_name, email, password_hash, role, telegram_user_id, notify_payments
FROM admins WHERE admin_id = :admin_id

-- name: get_admin_by_email
-- One admin by email.
SELECT admin_id, admin_name, email, password_hash, role, telegram_user_id, notify_payments
FROM admins WHERE email = :email

-- name: get_admin_by_telegram
-- The admin linked to a Telegram account.
SELECT admin_id, admin_name, email, password_hash, role, telegram_user_id, notify_payments
FROM admins WHERE telegram_user_id = :telegram_user_id

-- name: is_staff
-- Whether a Telegram account is linked to an admin (one lookup in uq_admins_telegram_user_id;
-- run before routing every message, so it reads nothing else).
SELECT 1 AS staff FROM admins WHERE telegram_user_id = :telegram_user_id

-- name: unlink_telegram_from_admins
-- Free a Telegram account from whichever admin it is linked to.
UPDATE admins SET telegram_user_id = NULL WHERE telegram_user_id = :telegram_user_id

-- name: link_admin_telegram
-- Link a Telegram account to an admin.
UPDATE admins SET telegram_user_id = :telegram_user_id WHERE admin_id = :admin_id

-- name: set_admin_password
-- Store a new admin password hash.
UPDATE admins SET password_hash = :password_hash WHERE admin_id = :admin_id

-- name: set_admin_notify
-- Turn payment notifications on or off for an admin.
UPDATE admins SET notify_payments = :notify WHERE admin_id = :admin_id

-- name: admins_to_notify
-- Linked admins who asked to be told of payments.
SELECT admin_id, admin_name, email, password_hash, role, telegram_user_id, notify_payments
FROM admins WHERE notify_payments AND telegram_user_id IS NOT NULL

-- name: insert_audit
-- Record an admin change.
INSERT INTO audit_log (admin_id, action, entity_type, entity_id, customer_id, bill_id,
                       before_data, after_data, created_at)
VALUES (:admin_id, :action, :entity_type, :entity_id, :customer_id, :bill_id,
        :before_data, :after_data, :created_at)

-- name: finish_audit
-- Complete an entry written before its outcome was known (a bulk import's): its own id as
-- the entity's, and what was done.
UPDATE audit_log
SET entity_id = CAST(audit_id AS CHAR), after_data = :after_data
WHERE audit_id = :audit_id

-- name: audit_about
-- The newest audit entries about one customer (:customer_id) or one bill (:bill_id; the other
-- is NULL and matches nothing). Imported bills name their import's one entry (migration
-- 0004): it is shown as an entry about each such bill.
SELECT e.audit_id, e.admin_id, ad.admin_name, e.action, e.entity_type, e.entity_id,
       e.customer_id, e.bill_id, e.before_data, e.after_data, e.created_at
FROM (
    SELECT a.audit_id, a.admin_id, a.action, a.entity_type, a.entity_id, a.customer_id,
           a.bill_id, a.before_data, a.after_data, a.created_at
    FROM audit_log a
    WHERE a.customer_id = :customer_id OR a.bill_id = :bill_id
    UNION ALL
    SELECT a.audit_id, a.admin_id, a.action, _utf8mb4'bill' COLLATE utf8mb4_unicode_ci,
           CAST(b.bill_id AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_unicode_ci,
           b.customer_id, b.bill_id, NULL,
           CAST(JSON_OBJECT('import', a.audit_id) AS CHAR CHARACTER SET utf8mb4)
               COLLATE utf8mb4_unicode_ci,
           a.created_at
    FROM bills b STRAIGHT_JOIN audit_log a ON a.audit_id = b.import_audit_id
    WHERE b.customer_id = :customer_id OR b.bill_id = :bill_id
) e
LEFT JOIN admins ad ON ad.admin_id = e.admin_id
ORDER BY e.audit_id DESC, e.bill_id DESC LIMIT :limit

-- name: audit_recent
-- The newest audit entries.
SELECT a.audit_id, a.admin_id, ad.admin_name, a.action, a.entity_type, a.entity_id,
       a.customer_id, a.bill_id, a.before_data, a.after_data, a.created_at
FROM audit_log a LEFT JOIN admins ad ON ad.admin_id = a.admin_id
ORDER BY a.audit_id DESC LIMIT :limit

-- name: linked_admins
-- Admins with a linked Telegram account.
SELECT admin_id, admin_name, email, password_hash, role, telegram_user_id, notify_payments
FROM admins WHERE telegram_user_id IS NOT NULL
