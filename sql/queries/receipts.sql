-- name: receipt_as_paid
-- Everything a receipt shows, for one payment, as it was when the payment was made: the
-- payment's copy of its bill's figures (migration 0005) and the details kept with it
-- (payment_receipts, migration 0012): the customer's name, meter and address, the bill's month
-- and due date, who recorded an office payment, the account credit right after it (0016). A
-- payment with no such row (bulk-loaded with
-- the triggers set aside) shows the current details; its recorder, unknown to the customer
-- account (no privilege on admins), is only said to exist (recorded_by_admin_id). The bill's
-- lines as they were then (0028) are a JSON array; NULL for a payment made before.
SELECT p.payment_id, p.receipt_number, p.date_of_payment, p.amount_paid, p.payment_method,
       COALESCE(r.billing_month, p.billing_month) AS billing_month, p.payment_status,
       p.bill_total, p.paid_to_date, p.units_used, p.rate_per_unit, p.voided_at,
       p.recorded_by_admin_id, b.customer_id,
       COALESCE(r.customer_name, c.full_name) AS full_name,
       COALESCE(r.meter_number, c.meter_number) AS meter_number,
       COALESCE(r.address, c.address) AS address,
       COALESCE(r.due_date, b.due_date) AS due_date,
       r.recorded_by, r.credit_after, r.bill_lines
FROM payments p
JOIN bills b ON b.bill_id = p.bill_id
JOIN customers c ON c.customer_id = b.customer_id
LEFT JOIN payment_receipts r ON r.payment_id = p.payment_id
WHERE p.payment_id = :payment_id
