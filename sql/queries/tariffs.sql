-- name: customer_tariff_version
-- The version of a customer's tariff in force for :billing_month (the newest whose
-- effective_from is on or before the month's first day), with its tariff's code, name and
-- class; no row when the customer has no tariff (the flat default) or none is in force yet.
SELECT t.tariff_code, t.name, t.customer_class, v.version_id, v.effective_from,
       v.fixed_charge, v.tax_percent, v.late_fee_percent, v.late_fee_fixed, v.late_fee_cap,
       v.grace_days
FROM customers c
JOIN tariffs t ON t.tariff_id = c.tariff_id
JOIN tariff_versions v ON v.tariff_id = t.tariff_id
WHERE c.customer_id = :customer_id AND v.effective_from <= :billing_month
ORDER BY v.effective_from DESC
LIMIT 1

-- name: tariff_version
-- One tariff version by id, with its tariff's code, name and class.
SELECT t.tariff_code, t.name, t.customer_class, v.version_id, v.effective_from,
       v.fixed_charge, v.tax_percent, v.late_fee_percent, v.late_fee_fixed, v.late_fee_cap,
       v.grace_days
FROM tariff_versions v
JOIN tariffs t ON t.tariff_id = v.tariff_id
WHERE v.version_id = :version_id

-- name: tariff_version_bands
-- The bands of one tariff version, lowest first.
SELECT from_kwh, to_kwh, rate_per_kwh
FROM tariff_bands
WHERE version_id = :version_id
ORDER BY band_no

-- name: tariffs_in_force
-- Every tariff with the version in force on :today (NULL columns when all its versions are
-- still to come), its number of versions and of customers, by code.
SELECT t.tariff_id, t.tariff_code, t.name, t.customer_class,
       (SELECT v.effective_from FROM tariff_versions v
        WHERE v.tariff_id = t.tariff_id AND v.effective_from <= :today
        ORDER BY v.effective_from DESC LIMIT 1) AS in_force_from,
       (SELECT COUNT(*) FROM tariff_versions v WHERE v.tariff_id = t.tariff_id) AS versions,
       (SELECT COUNT(*) FROM customers c WHERE c.tariff_id = t.tariff_id) AS customers
FROM tariffs t
ORDER BY t.tariff_code

-- name: customers_on_flat_tariff
-- How many customers have no tariff (the flat DEFAULT_TARIFF).
SELECT COUNT(*) AS customers FROM customers WHERE tariff_id IS NULL

-- name: tariff_by_code
-- One tariff by its code (the collation makes the match case-insensitive).
SELECT tariff_id, tariff_code, name, customer_class
FROM tariffs
WHERE tariff_code = :tariff_code

-- name: lock_tariff_by_code
-- One tariff by its code, locked until the transaction ends (a version is being added).
SELECT tariff_id, tariff_code, name, customer_class
FROM tariffs
WHERE tariff_code = :tariff_code
FOR UPDATE

-- name: tariff_versions_of
-- Every version of one tariff, newest first, with the tariff's code, name and class.
SELECT t.tariff_code, t.name, t.customer_class, v.version_id, v.effective_from,
       v.fixed_charge, v.tax_percent, v.late_fee_percent, v.late_fee_fixed, v.late_fee_cap,
       v.grace_days
FROM tariff_versions v
JOIN tariffs t ON t.tariff_id = v.tariff_id
WHERE v.tariff_id = :tariff_id
ORDER BY v.effective_from DESC

-- name: tariff_bands_of
-- The bands of every version of one tariff, each version's lowest first.
SELECT b.version_id, b.from_kwh, b.to_kwh, b.rate_per_kwh
FROM tariff_bands b
JOIN tariff_versions v ON v.version_id = b.version_id
WHERE v.tariff_id = :tariff_id
ORDER BY b.version_id, b.band_no

-- name: tariff_version_on
-- The version of one tariff that starts on :effective_from, if there is one.
SELECT version_id FROM tariff_versions
WHERE tariff_id = :tariff_id AND effective_from = :effective_from

-- name: insert_tariff
-- A new tariff (its versions follow).
INSERT INTO tariffs (tariff_code, name, customer_class)
VALUES (:tariff_code, :name, :customer_class)

-- name: insert_tariff_version
-- A new version of a tariff (its bands follow).
INSERT INTO tariff_versions (tariff_id, effective_from, fixed_charge, tax_percent,
                             late_fee_percent, late_fee_fixed, late_fee_cap, grace_days,
                             created_by_admin_id)
VALUES (:tariff_id, :effective_from, :fixed_charge, :tax_percent, :late_fee_percent,
        :late_fee_fixed, :late_fee_cap, :grace_days, :admin_id)

-- name: insert_tariff_band
-- One band of a version.
INSERT INTO tariff_bands (version_id, band_no, from_kwh, to_kwh, rate_per_kwh)
VALUES (:version_id, :band_no, :from_kwh, :to_kwh, :rate_per_kwh)

-- name: tariff_export
-- Every band of every version of every tariff, as the tariff CSV lists them.
SELECT t.tariff_code, t.name, t.customer_class, v.effective_from,
       b.from_kwh AS band_from_kwh, b.to_kwh AS band_to_kwh, b.rate_per_kwh, v.fixed_charge, v.tax_percent, v.late_fee_percent, v.late_fee_fixed,
       v.late_fee_cap, v.grace_days
FROM tariffs t
JOIN tariff_versions v ON v.tariff_id = t.tariff_id
JOIN tariff_bands b ON b.version_id = v.version_id
ORDER BY t.tariff_code, v.effective_from, b.band_no

-- name: lock_customer_tariff
-- A customer's tariff (NULL: the flat default), locked while it is being changed.
SELECT c.customer_id, c.meter_number, c.tariff_id, t.tariff_code
FROM customers c
LEFT JOIN tariffs t ON t.tariff_id = c.tariff_id
WHERE c.customer_id = :customer_id
FOR UPDATE

-- name: set_customer_tariff
-- Put a customer on a tariff (NULL: the flat default).
UPDATE customers SET tariff_id = :tariff_id WHERE customer_id = :customer_id

-- name: customer_tariff
-- A customer's tariff (no row: the flat default) and the start of its version in force on
-- :today (NULL when none is in force yet).
SELECT t.tariff_id, t.tariff_code, t.name, t.customer_class,
       (SELECT v.effective_from FROM tariff_versions v
        WHERE v.tariff_id = t.tariff_id AND v.effective_from <= :today
        ORDER BY v.effective_from DESC LIMIT 1) AS in_force_from
FROM customers c
JOIN tariffs t ON t.tariff_id = c.tariff_id
WHERE c.customer_id = :customer_id
