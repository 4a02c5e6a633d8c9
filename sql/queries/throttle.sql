-- name: locked_subject
-- The subject's throttle row if it is still locked at :now.
SELECT subject, locked_until FROM login_throttle
WHERE subject = :subject AND locked_until IS NOT NULL AND locked_until > :now

-- name: record_login_failure
-- Count a failed login; lock the subject once it reaches :max_failures inside the window.
INSERT INTO login_throttle (subject, failures, window_started_at, locked_until)
VALUES (:subject, 1, :now, NULL)
ON DUPLICATE KEY UPDATE
    failures = IF(window_started_at < :window_start, 1, failures + 1),
    window_started_at = IF(failures = 1, :now, window_started_at),
    locked_until = IF(failures >= :max_failures, :locked_until, locked_until)

-- name: reset_login_failures
-- Forget a subject's failures after a successful login.
UPDATE login_throttle SET failures = 0, locked_until = NULL
WHERE subject = :subject AND (failures <> 0 OR locked_until IS NOT NULL)

-- name: forget_stale_login_failures
-- Drop throttle rows that no longer count: their window began before :window_start (a new
-- failure would start counting from 1 again) and they are not locked at :now. Admin account
-- only (the customer account may not DELETE); run daily by the bot.
DELETE FROM login_throttle
WHERE window_started_at < :window_start AND (locked_until IS NULL OR locked_until <= :now)
