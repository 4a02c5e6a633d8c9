-- name: reading_meter
-- A customer's meter, by meter number: what recording its readings needs.
SELECT customer_id, meter_number, full_name, meter_digits, telegram_user_id
FROM customers WHERE meter_number = :meter_number

-- name: reading_meter_of_customer
-- A customer's meter, by customer id.
SELECT customer_id, meter_number, full_name, meter_digits, telegram_user_id
FROM customers WHERE customer_id = :customer_id

-- name: lock_reading_meter
-- A customer's meter, locked: one meter's readings are recorded and reviewed one at a time.
SELECT customer_id, meter_number, full_name, meter_digits, telegram_user_id
FROM customers WHERE customer_id = :customer_id FOR UPDATE

-- name: reading_of_month
-- A customer's reading of one month (whatever its status), if any.
SELECT reading_id, customer_id, billing_month, reading, source, status, submitted_reading,
       photo_file_id, entered_by_admin_id, reviewed_by_admin_id, created_at, updated_at
FROM meter_readings
WHERE customer_id = :customer_id AND billing_month = :billing_month

-- name: lock_reading_of_month
-- A customer's reading of one month, locked for an update.
SELECT reading_id, customer_id, billing_month, reading, source, status, submitted_reading,
       photo_file_id, entered_by_admin_id, reviewed_by_admin_id, created_at, updated_at
FROM meter_readings
WHERE customer_id = :customer_id AND billing_month = :billing_month
FOR UPDATE

-- name: reading_by_id
-- One reading by id.
SELECT reading_id, customer_id, billing_month, reading, source, status, submitted_reading,
       photo_file_id, entered_by_admin_id, reviewed_by_admin_id, created_at, updated_at
FROM meter_readings WHERE reading_id = :reading_id

-- name: lock_reading_by_id
-- One reading by id, locked for a review.
SELECT reading_id, customer_id, billing_month, reading, source, status, submitted_reading,
       photo_file_id, entered_by_admin_id, reviewed_by_admin_id, created_at, updated_at
FROM meter_readings WHERE reading_id = :reading_id FOR UPDATE

-- name: previous_reading
-- What a month's units are counted from: the newest actual figure of an earlier month, an
-- accepted reading or an issued bill's current_reading (the bill's when both are of the same
-- month). Estimates are left out: a real reading is never refused for being below a guess.
SELECT billing_month, reading, from_bill
FROM (
    (SELECT billing_month, reading, 0 AS from_bill
     FROM meter_readings
     WHERE customer_id = :customer_id AND billing_month < :billing_month
       AND status = 'accepted' AND source <> 'estimate'
     ORDER BY billing_month DESC LIMIT 1)
    UNION ALL
    (SELECT billing_month, current_reading, 1
     FROM bills
     WHERE customer_id = :customer_id AND billing_month < :billing_month
       AND current_reading IS NOT NULL AND NOT estimated
     ORDER BY billing_month DESC LIMIT 1)
) AS candidates
ORDER BY billing_month DESC, from_bill DESC
LIMIT 1

-- name: estimate_before
-- The newest estimated reading of a month before :billing_month (the bill run stored it for a
-- month with no reading): the run counts the next month's units from it.
SELECT billing_month, reading, 0 AS from_bill
FROM meter_readings
WHERE customer_id = :customer_id AND billing_month < :billing_month
  AND status = 'accepted' AND source = 'estimate'
ORDER BY billing_month DESC
LIMIT 1

-- name: next_reading
-- The first accepted actual reading after a month: a month's reading may not exceed it.
SELECT billing_month, reading, 0 AS from_bill
FROM meter_readings
WHERE customer_id = :customer_id AND billing_month > :billing_month
  AND status = 'accepted' AND source <> 'estimate'
ORDER BY billing_month
LIMIT 1

-- name: bill_of_reading_month
-- The bill of a customer's month, if issued: its reading can no longer change.
SELECT bill_id, current_reading
FROM bills WHERE customer_id = :customer_id AND billing_month = :billing_month

-- name: insert_reading
-- A reading recorded by staff or imported: accepted at once.
INSERT INTO meter_readings (customer_id, billing_month, reading, source, status,
                            entered_by_admin_id)
VALUES (:customer_id, :billing_month, :reading, :source, 'accepted', :admin_id)

-- name: update_reading
-- A month's reading replaced (re-entered before it is billed) or reviewed; every figure is
-- worked out by the caller from the row it has locked.
UPDATE meter_readings
SET reading = :reading, source = :source, status = :status,
    submitted_reading = :submitted_reading, entered_by_admin_id = :entered_by_admin_id,
    reviewed_by_admin_id = :reviewed_by_admin_id
WHERE reading_id = :reading_id

-- name: insert_customer_reading
-- A customer's own reading (the customer account's grant names exactly these columns): the
-- table's trigger makes it pending.
INSERT INTO meter_readings (customer_id, billing_month, reading, photo_file_id)
VALUES (:customer_id, :billing_month, :reading, :photo_file_id)

-- name: recent_readings
-- A customer's latest readings, newest month first.
SELECT reading_id, customer_id, billing_month, reading, source, status, submitted_reading,
       photo_file_id, entered_by_admin_id, reviewed_by_admin_id, created_at, updated_at
FROM meter_readings
WHERE customer_id = :customer_id
ORDER BY billing_month DESC
LIMIT :limit

-- name: pending_readings
-- A page of customers' submissions waiting for staff, oldest first, with their meters.
SELECT r.reading_id, r.customer_id, r.billing_month, r.reading, r.source, r.status,
       r.submitted_reading, r.photo_file_id, r.entered_by_admin_id, r.reviewed_by_admin_id,
       r.created_at, r.updated_at,
       c.meter_number, c.full_name, c.meter_digits, c.telegram_user_id
FROM meter_readings r
JOIN customers c ON c.customer_id = r.customer_id
WHERE r.status = 'pending'
ORDER BY r.created_at, r.reading_id
LIMIT :limit OFFSET :offset

-- name: count_pending_readings
-- How many submissions wait for staff.
SELECT COUNT(*) FROM meter_readings WHERE status = 'pending'
