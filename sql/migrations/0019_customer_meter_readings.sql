-- depends: 0017_tariffs_readings_bill_lines
-- A customer's own meter reading (issue 15): the customer account may only submit one, and a
-- submission always arrives pending, for staff to accept, correct or reject.
--
--   * the customer account's INSERT names customer_id, billing_month, reading and
--     photo_file_id only (sql/grants.sql): source then takes its default, 'customer', the
--     least trusted; it has no UPDATE and no DELETE on the table;
--   * whoever writes it, a reading whose source is 'customer' arrives pending, with no
--     reviewer, no staff member named and no corrected figure: only staff decide it, later
--     (an UPDATE the customer account is not granted).

ALTER TABLE meter_readings ALTER COLUMN source SET DEFAULT 'customer';

CREATE TRIGGER meter_readings_before_insert BEFORE INSERT ON meter_readings FOR EACH ROW
BEGIN
    IF NEW.source = 'customer' THEN
        IF NEW.entered_by_admin_id IS NOT NULL OR NEW.reviewed_by_admin_id IS NOT NULL
           OR NEW.submitted_reading IS NOT NULL THEN
            SIGNAL SQLSTATE '45000'
                SET MESSAGE_TEXT = 'ebb: a customer reading is submitted; only staff review it';
        END IF;
        -- The status column's default is 'accepted' (staff and imported readings): a
        -- customer's submission is pending whatever the INSERT said.
        SET NEW.status = 'pending';
    END IF;
END;
