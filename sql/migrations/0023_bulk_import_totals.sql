-- depends: 0017_tariffs_readings_bill_lines
-- Set-based bill imports (issue 15): a CSV import issues its bills with one INSERT … SELECT
-- per chunk and adds them to the report totals with one GROUP BY per totals table in the
-- same transaction (domain/ledger.py, "Imports"), instead of one pair of upserts per bill
-- from this trigger.
--
-- The trigger leaves a new bill to its writer only when the bill names an import's audit
-- entry (import_audit_id) AND the session has declared that it adds that import's totals
-- itself (@ebb_bulk_totals = the same audit id). Every other bill, from any writer and any
-- session, moves the totals here as before. The audit entry is new to the import's own
-- transaction, so no other session can write bills naming it; the customer account cannot
-- insert bills at all. A declaration left on a pooled connection matches nothing later.

DROP TRIGGER bills_after_insert;

CREATE TRIGGER bills_after_insert AFTER INSERT ON bills FOR EACH ROW
BEGIN
    IF @ebb_bulk_totals IS NULL OR NOT (NEW.import_audit_id <=> @ebb_bulk_totals) THEN
        INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                 collected, open_bills, owed)
        VALUES (NEW.billing_month, NEW.due_date, CONNECTION_ID() MOD 64, 1, NEW.units_used,
                NEW.total_amount, 0, 1, NEW.total_amount)
        ON DUPLICATE KEY UPDATE bills = bills + 1,
                                units_used = units_used + NEW.units_used,
                                billed = billed + NEW.total_amount,
                                open_bills = open_bills + 1,
                                owed = owed + NEW.total_amount;
        INSERT INTO customer_balances (customer_id, open_bills, owed)
        VALUES (NEW.customer_id, 1, NEW.total_amount)
        ON DUPLICATE KEY UPDATE open_bills = open_bills + 1, owed = owed + NEW.total_amount;
    END IF;
END;
