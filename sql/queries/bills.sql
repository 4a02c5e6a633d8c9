-- name: get_bill
-- One bill by id.
SELECT bill_id, customer_id, billing_month, units_used, rate_per_unit, total_amount,
       amount_paid, payment_status, due_date
FROM bills WHERE bill_id = :bill_id

-- name: lock_bill
-- One bill by id, locked until the transaction ends (bills.lock), as one JSON object: the
-- driver then parses one column's description instead of nine, a sixth of a payment's
-- client CPU at 16 payers (docs/benchmarks.md, Payments).
SELECT JSON_OBJECT('bill_id', bill_id, 'customer_id', customer_id,
                   'billing_month', billing_month, 'units_used', units_used,
                   'rate_per_unit', rate_per_unit, 'total_amount', total_amount,
                   'amount_paid', amount_paid, 'payment_status', payment_status,
                   'due_date', due_date)
FROM bills WHERE bill_id = :bill_id FOR UPDATE

-- name: customer_bills
-- A page of one customer's bills of the statuses :status_a and :status_b (every status when
-- :status_a is NULL): unpaid and partial first (oldest due first), then paid.
SELECT bill_id, customer_id, billing_month, units_used, rate_per_unit, total_amount,
       amount_paid, payment_status, due_date
FROM bills
WHERE customer_id = :customer_id
  AND (:status_a IS NULL OR payment_status IN (:status_a, :status_b))
ORDER BY payment_status = 'paid', IF(payment_status = 'paid', NULL, due_date),
         billing_month DESC, bill_id DESC
LIMIT :limit OFFSET :offset

-- name: count_customer_bills
-- How many bills one customer has of the statuses :status_a and :status_b (all: NULL).
SELECT COUNT(*) FROM bills
WHERE customer_id = :customer_id
  AND (:status_a IS NULL OR payment_status IN (:status_a, :status_b))

-- name: customer_bill_for_month
-- A customer's bill for one billing month, if there is one (the month is UNIQUE per customer).
SELECT bill_id, customer_id, billing_month, units_used, rate_per_unit, total_amount,
       amount_paid, payment_status, due_date
FROM bills WHERE customer_id = :customer_id AND billing_month = :billing_month

-- name: list_bills
-- A page of all bills, optionally of the statuses :status_a and :status_b (every status when
-- :status_a is NULL) and of one month, with their customer. The statuses are constants by the
-- time the server plans the query, so ``IN`` can use ix_bills_status_due.
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date,
       c.meter_number, c.full_name
FROM bills b JOIN customers c ON c.customer_id = b.customer_id
WHERE (:status_a IS NULL OR b.payment_status IN (:status_a, :status_b))
  AND (:billing_month IS NULL OR b.billing_month = :billing_month)
ORDER BY b.billing_month DESC, b.bill_id DESC
LIMIT :limit OFFSET :offset

-- name: count_bills
-- How many bills match a status and month filter.
SELECT COUNT(*) FROM bills
WHERE (:status_a IS NULL OR payment_status IN (:status_a, :status_b))
  AND (:billing_month IS NULL OR billing_month = :billing_month)
