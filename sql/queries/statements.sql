-- Bill statements (domain/statements.py): everything one bill's statement shows, read in one
-- round trip (the statements below go together in one batch), and the lines of many bills.
--
-- Times: bills.created_at and bill_lines.created_at are written by the server's clock in the
-- session's time zone (their column defaults); payments.date_of_payment and voided_at are
-- UTC from the bot. A bill's issue time is turned into UTC by the session's offset before it
-- is compared with a payment's.

-- name: statement_bill
-- The bill, with its readings and issue time, and its customer's name, meter, address and
-- account credit.
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date,
       b.previous_reading, b.current_reading, b.estimated,
       b.created_at - INTERVAL TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), NOW(6))
           MICROSECOND AS issued_at,
       c.full_name, c.meter_number, c.address, c.credit
FROM bills b
JOIN customers c ON c.customer_id = b.customer_id
WHERE b.bill_id = :bill_id

-- name: statement_earlier_bills
-- Each bill of the customer for an earlier month: what it owes now, what it owed when this
-- bill was issued (its total then: without the late fees, waivers and corrections added
-- since; less the payments made by then and not voided by then), and what was paid on it
-- after the previous bill (the newest earlier one) was issued, up to this one.
SELECT e.bill_id, e.total_amount, e.amount_paid,
       e.total_amount - COALESCE((
           SELECT SUM(l.amount) FROM bill_lines l
           WHERE l.bill_id = e.bill_id
             AND l.kind IN ('late_fee', 'waiver', 'correction')
             AND l.created_at > t.created_at), 0) AS total_at_issue,
       COALESCE((
           SELECT SUM(p.amount_paid) FROM payments p
           WHERE p.bill_id = e.bill_id AND p.date_of_payment <= t.issued_at
             AND (p.voided_at IS NULL OR p.voided_at > t.issued_at)), 0) AS paid_at_issue,
       COALESCE((
           SELECT SUM(p.amount_paid) FROM payments p
           WHERE p.bill_id = e.bill_id AND p.date_of_payment <= t.issued_at
             AND p.date_of_payment > t.previous_issued_at
             AND (p.voided_at IS NULL OR p.voided_at > t.issued_at)), 0) AS paid_since_previous
FROM (
    SELECT b.customer_id, b.billing_month, b.created_at,
           b.created_at - INTERVAL TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), NOW(6))
               MICROSECOND AS issued_at,
           COALESCE((
               SELECT pb.created_at
                      - INTERVAL TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), NOW(6))
                      MICROSECOND
               FROM bills pb
               WHERE pb.customer_id = b.customer_id AND pb.billing_month < b.billing_month
               ORDER BY pb.billing_month DESC LIMIT 1), '1000-01-01') AS previous_issued_at
    FROM bills b
    WHERE b.bill_id = :bill_id
) t
JOIN bills e ON e.customer_id = t.customer_id AND e.billing_month < t.billing_month

-- name: statement_usage
-- The customer's units of the twelve billing months up to this bill's (months with no bill
-- have no row).
SELECT u.billing_month, u.units_used
FROM bills t
JOIN bills u ON u.customer_id = t.customer_id
            AND u.billing_month <= t.billing_month
            AND u.billing_month > t.billing_month - INTERVAL 12 MONTH
WHERE t.bill_id = :bill_id
ORDER BY u.billing_month

-- name: statement_bill_of_month
-- The customer's bill for :billing_month, or (NULL) their newest bill.
SELECT bill_id FROM bills
WHERE customer_id = :customer_id
  AND (:billing_month IS NULL OR billing_month = :billing_month)
ORDER BY billing_month DESC
LIMIT 1

-- name: statement_lines_of_bills
-- The lines of the bills :bill_ids (one JSON array), in the order they were written.
SELECT JSON_ARRAYAGG(JSON_OBJECT(
           'line_id', line_id, 'bill_id', bill_id, 'kind', kind,
           'band_from_kwh', band_from_kwh, 'band_to_kwh', band_to_kwh, 'units', units,
           'rate', rate, 'percent', percent, 'amount', amount, 'fee_period', fee_period,
           'waives_line_id', waives_line_id, 'note', note) ORDER BY line_id)
FROM bill_lines
WHERE bill_id IN (:bill_ids)

-- name: statement_lines_export
-- The lines of the bills of the statuses :status_a and :status_b (every status when
-- :status_a is NULL) and of one month (every month when :billing_month is NULL), with their
-- bill and customer, newest month first, at most :limit lines.
SELECT b.bill_id, c.meter_number, c.full_name, b.billing_month, b.total_amount,
       l.line_id, l.kind, l.band_from_kwh, l.band_to_kwh, l.units, l.rate, l.percent,
       l.amount, l.fee_period, l.waives_line_id, l.note
FROM bills b
JOIN customers c ON c.customer_id = b.customer_id
JOIN bill_lines l ON l.bill_id = b.bill_id
WHERE (:status_a IS NULL OR b.payment_status IN (:status_a, :status_b))
  AND (:billing_month IS NULL OR b.billing_month = :billing_month)
ORDER BY b.billing_month DESC, b.bill_id DESC, l.line_id
LIMIT :limit
