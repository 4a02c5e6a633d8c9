-- depends: 0001_initial_schema
-- Due-date reminders already sent: one row per bill per due date, so a bill is reminded once
-- per reminder window (a corrected bill with a new due date gets a new window).
CREATE TABLE bill_reminders (
    bill_id  BIGINT UNSIGNED NOT NULL,
    due_date DATE            NOT NULL,
    sent_at  DATETIME(6)     NOT NULL,
    PRIMARY KEY (bill_id, due_date),
    CONSTRAINT fk_bill_reminders_bill FOREIGN KEY (bill_id) REFERENCES bills (bill_id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
