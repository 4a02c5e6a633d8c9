-- depends: 0003_report_totals
-- Bulk import at 100,000 lines (issue 6): one audit entry per import instead of one per bill.
--
-- Each imported bill names its import's audit entry, written by the same INSERT that issues
-- it, so the import writes one audit row and not a hundred thousand (each with two indexes):
-- /audit <bill> and /audit <meter> find a bill's import through this column. The column is
-- also how an import's statements pick out the bills it has just written (its own id, from
-- a chunk's first bill id on), whatever ids other writers take meanwhile. No index and no
-- foreign key: it is only read from a bill already found, and a bill's INSERT stays as cheap
-- as it was.
ALTER TABLE bills ADD COLUMN import_audit_id BIGINT UNSIGNED NULL;

-- Top debtors and "customers owing" now scan customer_balances (one small row per customer,
-- ~10 ms at 100,000) instead of reading an index on owed: that index was rewritten by every
-- payment and by every imported bill (a third of the import's balance upsert).
ALTER TABLE customer_balances DROP INDEX ix_customer_balances_owed;
