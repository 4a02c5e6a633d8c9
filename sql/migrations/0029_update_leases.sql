-- depends: 0024_once_updates_and_jobs
-- An update's claim becomes a lease (issue 16, domain/once.py, docs/scaling.md "When a piece
-- dies"). The webhook is answered only after the update is handled, so an update whose
-- instance died half-way is delivered again; its claim must then say whether it was finished.
--
--   * lease_until: the claim holds the update until then (renewed while its handlers run);
--     a redelivery finding it unfinished and still leased is told to retry later (503), one
--     finding the lease run out takes the claim over (its instance died) and handles it.
--     NULL: no lease (a claim made before this migration, or written by hand).
--   * finished_at: set once the update's handlers are done; a redelivery then is dropped.
--
-- The claims made before this migration were handled, or lost with their instance, under the
-- old rule (claimed = done): they are marked finished, as that rule treated them.
ALTER TABLE processed_updates
    ADD COLUMN lease_until DATETIME(6) NULL AFTER claimed_by,
    ADD COLUMN finished_at DATETIME(6) NULL AFTER lease_until;

UPDATE processed_updates SET finished_at = claimed_at;
