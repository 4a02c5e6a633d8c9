-- name: customers_by_meters
-- The customers whose meter numbers are in the JSON array :meters (looked up at once).
SELECT c.customer_id, c.meter_number, c.full_name, c.telegram_user_id
FROM JSON_TABLE(:meters, '$[*]' COLUMNS (
         meter_number VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$'
     )) m
JOIN customers c ON c.meter_number = m.meter_number

-- name: bills_for_customer_months
-- Bills for the JSON array :pairs of [customer_id, "YYYY-MM-01"] (clashes, and new ids).
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date
FROM JSON_TABLE(:pairs, '$[*]' COLUMNS (
         customer_id BIGINT UNSIGNED PATH '$[0]',
         billing_month DATE PATH '$[1]'
     )) k
JOIN bills b ON b.customer_id = k.customer_id AND b.billing_month = k.billing_month

-- name: insert_bills_batch
-- Issue many bills in one statement (every value a parameter, so executemany batches it).
INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount,
                   amount_paid, payment_status, due_date)
VALUES (:customer_id, :billing_month, :units_used, :rate_per_unit, :total_amount,
        :amount_paid, :payment_status, :due_date)
