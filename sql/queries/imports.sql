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

-- name: import_drop_staging
-- The import's staging table, once the import is over.
DROP TEMPORARY TABLE IF EXISTS import_lines

-- name: import_create_staging
-- The checked lines of the file being imported (this connection only): its line number, the
-- meter as normalised, the month, the figures and the due date. The meter's collation is
-- the customers table's, so it is looked up by the unique meter index. One left on this
-- pooled connection by an import that could not clean up is replaced.
CREATE OR REPLACE TEMPORARY TABLE import_lines (
    line          INT UNSIGNED  NOT NULL,
    meter_number  VARCHAR(32)   CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    billing_month DATE          NOT NULL,
    units_used    DECIMAL(12,2) NOT NULL,
    rate_per_unit DECIMAL(12,4) NOT NULL,
    due_date      DATE          NOT NULL,
    PRIMARY KEY (line)
) ENGINE=InnoDB

-- name: import_load_staging
-- A chunk of checked lines, written by the import as tab-separated text (digits, dates and
-- normalised meter numbers only: nothing to escape), sent by the client (LOAD DATA LOCAL).
LOAD DATA LOCAL INFILE :path INTO TABLE import_lines CHARACTER SET utf8mb4
FIELDS TERMINATED BY '\t' ESCAPED BY '' LINES TERMINATED BY '\n'
(line, meter_number, billing_month, units_used, rate_per_unit, due_date)

-- name: import_stage_line
-- One checked line into the staging table: the way in where LOAD DATA LOCAL is not allowed
-- (sent as multi-row INSERTs by UnitOfWork.execute_many).
INSERT INTO import_lines (line, meter_number, billing_month, units_used, rate_per_unit,
                          due_date)
VALUES (:line, :meter_number, :billing_month, :units_used, :rate_per_unit, :due_date)

-- name: import_unknown_meters
-- The staged lines :first_line to :last_line whose meter no customer has (a refused file:
-- read only then), the first :limit.
SELECT s.line, s.meter_number
FROM import_lines s
LEFT JOIN customers c ON c.meter_number = s.meter_number
WHERE s.line BETWEEN :first_line AND :last_line AND c.customer_id IS NULL
ORDER BY s.line
LIMIT :limit

-- name: import_repeats
-- The staged lines :first_line to :last_line whose meter and month an earlier line already
-- has, with that line, the first :limit.
SELECT line, meter_number, billing_month, first_line
FROM (SELECT line, meter_number, billing_month,
             -- (FIRST_VALUE over a frame that only grows: MIN over the whole partition
             -- is worked out again for each row, hours for a file of one repeated line)
             FIRST_VALUE(line) OVER (PARTITION BY meter_number, billing_month ORDER BY line
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                 AS first_line
      FROM import_lines
      WHERE line <= :last_line) s
WHERE line BETWEEN :first_line AND :last_line AND line > first_line
ORDER BY line
LIMIT :limit

-- name: import_clashes
-- The staged lines :first_line to :last_line whose customer already has a bill for that
-- month, other than one this import :import_id has just issued, the first :limit.
SELECT s.line, s.meter_number, s.billing_month
FROM import_lines s
JOIN customers c ON c.meter_number = s.meter_number
JOIN bills b ON b.customer_id = c.customer_id AND b.billing_month = s.billing_month
WHERE s.line BETWEEN :first_line AND :last_line
  AND NOT (b.import_audit_id <=> :import_id)
ORDER BY s.line
LIMIT :limit

-- name: imported_linked_bills
-- The bills import :import_id issued from id :first_id on for customers with a Telegram
-- account (to be told), in the file's order: the import's id range first, each customer by
-- its key (not every linked customer, who may be many, looked for among the bills).
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date,
       c.meter_number, c.full_name, c.telegram_user_id
FROM bills b
STRAIGHT_JOIN customers c ON c.customer_id = b.customer_id
WHERE b.bill_id >= :first_id AND b.import_audit_id = :import_id
  AND c.telegram_user_id IS NOT NULL
ORDER BY b.bill_id
