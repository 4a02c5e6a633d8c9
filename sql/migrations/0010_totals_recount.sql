-- depends: 0008_provider_refunds
-- Recounts of the report totals (issue 14): `run_bot.py recount` and the bot's daily check
-- repair whatever totals differ from the rows they sum (domain/report_totals.py `rebuild`).
-- A repair adds the difference it counted, so two repairs at once would both add it: each
-- takes this table's one row first (an upsert, so the row need not exist yet), and the
-- second counts only after the first has committed. The row also says when the totals were
-- last recounted, whether or not anything was found.
CREATE TABLE totals_recount (
    recount_id    TINYINT UNSIGNED NOT NULL,
    recounted_at  DATETIME(6)      NOT NULL,
    PRIMARY KEY (recount_id),
    CONSTRAINT ck_totals_recount_one_row CHECK (recount_id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
