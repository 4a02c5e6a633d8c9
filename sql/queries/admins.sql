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

-- name: audit_for_customer
-- The newest audit entries about one customer.
SELECT a.audit_id, a.admin_id, ad.admin_name, a.action, a.entity_type, a.entity_id,
       a.customer_id, a.bill_id, a.before_data, a.after_data, a.created_at
FROM audit_log a LEFT JOIN admins ad ON ad.admin_id = a.admin_id
WHERE a.customer_id = :customer_id
ORDER BY a.audit_id DESC LIMIT :limit

-- name: audit_for_bill
-- The newest audit entries about one bill.
SELECT a.audit_id, a.admin_id, ad.admin_name, a.action, a.entity_type, a.entity_id,
       a.customer_id, a.bill_id, a.before_data, a.after_data, a.created_at
FROM audit_log a LEFT JOIN admins ad ON ad.admin_id = a.admin_id
WHERE a.bill_id = :bill_id
ORDER BY a.audit_id DESC LIMIT :limit

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
