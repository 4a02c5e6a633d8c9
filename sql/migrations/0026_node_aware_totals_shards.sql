-- depends: 0023_bulk_import_totals
-- Totals shards that keep Galera nodes apart (issue 16, docs/scaling.md "Galera-safe data
-- access"). The triggers add to the report totals in one of 64 (bills) or 16 (a day's
-- payments by one method) shard rows, so that concurrent writers rarely meet on a row. They
-- chose it by CONNECTION_ID() alone; connection ids are numbered per server, so on a Galera
-- cluster written through several nodes, connections on two nodes met on the same rows and
-- one of the two transactions failed certification (1213 at COMMIT, then run again): 278
-- retries in 6 s of payments of distinct bills through three nodes, none with these shards.
--
-- A node now takes only the shards congruent to its own auto_increment_offset modulo
-- auto_increment_increment (Galera sets them to the node's index and the node count:
-- wsrep_auto_increment_control). On a single server (increment 1, offset 1) the shard is
-- CONNECTION_ID() MOD n exactly as before. The bodies are otherwise those of migrations
-- 0023 (bills_after_insert), 0021 (bills_after_update) and 0005 (the payments' two), which
-- keep their place before the credit triggers of migration 0006 (PRECEDES): made again
-- without it they would run last, after the credit and receipt triggers.

DROP TRIGGER bills_after_insert;

CREATE TRIGGER bills_after_insert AFTER INSERT ON bills FOR EACH ROW
BEGIN
    DECLARE node_shard SMALLINT DEFAULT
        (CONNECTION_ID() MOD GREATEST(64 DIV @@auto_increment_increment, 1)
         * @@auto_increment_increment
         + (@@auto_increment_offset - 1) MOD @@auto_increment_increment) MOD 64;
    IF @ebb_bulk_totals IS NULL OR NOT (NEW.import_audit_id <=> @ebb_bulk_totals) THEN
        INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                 collected, open_bills, owed)
        VALUES (NEW.billing_month, NEW.due_date, node_shard, 1, NEW.units_used,
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

DROP TRIGGER bills_after_update;

CREATE TRIGGER bills_after_update AFTER UPDATE ON bills FOR EACH ROW
BEGIN
    DECLARE was_open, is_open INT;
    DECLARE by_late_fee_run BOOLEAN DEFAULT FALSE;
    DECLARE node_shard SMALLINT DEFAULT
        (CONNECTION_ID() MOD GREATEST(64 DIV @@auto_increment_increment, 1)
         * @@auto_increment_increment
         + (@@auto_increment_offset - 1) MOD @@auto_increment_increment) MOD 64;
    SET was_open = OLD.payment_status <> 'paid', is_open = NEW.payment_status <> 'paid';
    IF @ebb_late_fee_batch IS NOT NULL AND was_open = 1 AND is_open = 1
       AND NEW.amount_paid = OLD.amount_paid AND NEW.units_used = OLD.units_used
       AND NEW.billing_month = OLD.billing_month AND NEW.due_date = OLD.due_date THEN
        SET by_late_fee_run = COALESCE(
            (SELECT c.amount = NEW.total_amount - OLD.total_amount
             FROM late_fee_charges c
             WHERE c.batch = @ebb_late_fee_batch AND c.bill_id = NEW.bill_id), FALSE);
    END IF;
    IF NOT by_late_fee_run THEN
        IF NEW.billing_month = OLD.billing_month AND NEW.due_date = OLD.due_date THEN
            IF NEW.units_used <> OLD.units_used OR NEW.total_amount <> OLD.total_amount
               OR NEW.amount_paid <> OLD.amount_paid OR is_open <> was_open THEN
                INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used,
                                         billed, collected, open_bills, owed)
                VALUES (NEW.billing_month, NEW.due_date, node_shard, 0,
                        NEW.units_used - OLD.units_used, NEW.total_amount - OLD.total_amount,
                        NEW.amount_paid - OLD.amount_paid, is_open - was_open,
                        (NEW.total_amount - NEW.amount_paid)
                        - (OLD.total_amount - OLD.amount_paid))
                ON DUPLICATE KEY UPDATE
                    units_used = units_used + (NEW.units_used - OLD.units_used),
                    billed = billed + (NEW.total_amount - OLD.total_amount),
                    collected = collected + (NEW.amount_paid - OLD.amount_paid),
                    open_bills = open_bills + (is_open - was_open),
                    owed = owed + ((NEW.total_amount - NEW.amount_paid)
                                   - (OLD.total_amount - OLD.amount_paid));
            END IF;
        ELSE
            -- The bill moved to another month or due date: out of the old row, into the new.
            INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                     collected, open_bills, owed)
            VALUES (OLD.billing_month, OLD.due_date, node_shard, -1,
                    -OLD.units_used, -OLD.total_amount, -OLD.amount_paid, -was_open,
                    -(OLD.total_amount - OLD.amount_paid))
            ON DUPLICATE KEY UPDATE bills = bills - 1,
                                    units_used = units_used - OLD.units_used,
                                    billed = billed - OLD.total_amount,
                                    collected = collected - OLD.amount_paid,
                                    open_bills = open_bills - was_open,
                                    owed = owed - (OLD.total_amount - OLD.amount_paid);
            INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                     collected, open_bills, owed)
            VALUES (NEW.billing_month, NEW.due_date, node_shard, 1, NEW.units_used,
                    NEW.total_amount, NEW.amount_paid, is_open,
                    NEW.total_amount - NEW.amount_paid)
            ON DUPLICATE KEY UPDATE bills = bills + 1,
                                    units_used = units_used + NEW.units_used,
                                    billed = billed + NEW.total_amount,
                                    collected = collected + NEW.amount_paid,
                                    open_bills = open_bills + is_open,
                                    owed = owed + (NEW.total_amount - NEW.amount_paid);
        END IF;
        IF is_open <> was_open
           OR (NEW.total_amount - NEW.amount_paid) <> (OLD.total_amount - OLD.amount_paid) THEN
            INSERT INTO customer_balances (customer_id, open_bills, owed)
            VALUES (NEW.customer_id, is_open - was_open,
                    (NEW.total_amount - NEW.amount_paid) - (OLD.total_amount - OLD.amount_paid))
            ON DUPLICATE KEY UPDATE
                open_bills = open_bills + (is_open - was_open),
                owed = owed + ((NEW.total_amount - NEW.amount_paid)
                               - (OLD.total_amount - OLD.amount_paid));
        END IF;
    END IF;
END;

DROP TRIGGER payments_after_insert;

CREATE TRIGGER payments_after_insert AFTER INSERT ON payments FOR EACH ROW
PRECEDES payments_after_insert_credit
BEGIN
    DECLARE node_shard SMALLINT DEFAULT
        (CONNECTION_ID() MOD GREATEST(16 DIV @@auto_increment_increment, 1)
         * @@auto_increment_increment
         + (@@auto_increment_offset - 1) MOD @@auto_increment_increment) MOD 16;
    UPDATE bills SET amount_paid = NEW.paid_to_date, payment_status = NEW.payment_status
    WHERE bill_id = NEW.bill_id;
    INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount)
    VALUES (DATE(NEW.date_of_payment), NEW.payment_method, node_shard, 1,
            NEW.amount_paid)
    ON DUPLICATE KEY UPDATE payments = payments + 1, amount = amount + NEW.amount_paid;
END;

DROP TRIGGER payments_after_update;

CREATE TRIGGER payments_after_update AFTER UPDATE ON payments FOR EACH ROW
PRECEDES payments_after_update_credit
BEGIN
    DECLARE total, paid DECIMAL(12,2);
    DECLARE node_shard SMALLINT DEFAULT
        (CONNECTION_ID() MOD GREATEST(16 DIV @@auto_increment_increment, 1)
         * @@auto_increment_increment
         + (@@auto_increment_offset - 1) MOD @@auto_increment_increment) MOD 16;
    IF OLD.voided_at IS NULL AND NEW.voided_at IS NOT NULL THEN
        SELECT total_amount, amount_paid - OLD.amount_paid INTO total, paid
        FROM bills WHERE bill_id = NEW.bill_id FOR UPDATE;
        UPDATE bills
        SET amount_paid = paid,
            payment_status = CASE WHEN paid = 0 THEN 'unpaid'
                                  WHEN paid = total THEN 'paid' ELSE 'partial' END
        WHERE bill_id = NEW.bill_id;
        INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount)
        VALUES (DATE(OLD.date_of_payment), OLD.payment_method, node_shard, -1,
                -OLD.amount_paid)
        ON DUPLICATE KEY UPDATE payments = payments - 1, amount = amount - OLD.amount_paid;
    END IF;
END;
