-- name: customers_by_meters
-- The customers whose meter numbers are in :meters, as one JSON array of objects
-- (UnitOfWork.fetch_json_in: one escaped value each; the unique meter index is looked up
-- once per value).
SELECT JSON_ARRAYAGG(JSON_OBJECT('customer_id', c.customer_id,
                                 'meter_number', c.meter_number,
                                 'full_name', c.full_name,
                                 'telegram_user_id', c.telegram_user_id))
FROM customers c
WHERE c.meter_number IN (:meters)

-- name: bills_for_customer_months
-- Bills for the JSON array :pairs of [customer_id, "YYYY-MM-01"] (clashes, and new ids).
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date
FROM JSON_TABLE(:pairs, '$[*]' COLUMNS (
         customer_id BIGINT UNSIGNED PATH '$[0]',
         billing_month DATE PATH '$[1]'
     )) k
JOIN bills b ON b.customer_id = k.customer_id AND b.billing_month = k.billing_month

-- name: insert_bills_values
-- Issue many bills in one statement: followed by a VALUES list of typed values only
-- (db.values_list: customer id, month, units, rate, total, due date, the import's audit
-- entry); unpaid, nothing paid.
INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount, due_date,
                   import_audit_id)
VALUES

-- name: import_start
-- The newest bill's id (bills after it were issued later), and whether a multi-row INSERT
-- gets consecutive ids (auto-increment lock mode 0 or 1, step 1): then a chunk's bills are
-- the id range from its first id on, in the order of its VALUES.
SELECT COALESCE(MAX(bill_id), 0) AS newest_bill_id,
       (@@innodb_autoinc_lock_mode IN (0, 1) AND @@auto_increment_increment = 1)
           AS consecutive_ids
FROM bills

-- name: imported_bills_from
-- The bills of import :import_id from id :first_id on: a chunk just written, where other
-- writers' ids may fall among its own (auto-increment lock mode 2).
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date
FROM bills b
WHERE b.bill_id >= :first_id AND b.import_audit_id = :import_id

-- name: count_imported_range
-- How many of the bills :first_id to :last_id belong to import :import_id (all of them, when a
-- multi-row INSERT got consecutive ids as the server said it would).
SELECT COUNT(*) FROM bills
WHERE bill_id BETWEEN :first_id AND :last_id AND import_audit_id = :import_id
