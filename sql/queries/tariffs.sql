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
