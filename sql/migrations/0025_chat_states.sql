-- depends: 0023_bulk_import_totals
-- Conversation state in the database (issue 16, STATE_STORE=database): with several bot
-- instances behind one webhook, the next step of a chat can land on any of them, so a chat's
-- state is read fresh for each update and written back after it (bot/shared_state.py).
--
-- One row per private chat (its id is the user's): what the chat's flows keep between steps
-- (the user data) and which step each conversation is at, with the time it times out. version
-- goes up by one with every write, and a write names the version it read (UPDATE … WHERE
-- version = seen): of two instances that handled updates of one chat at once, the second to
-- write changes no row and its user is asked to try again, so the winner's state stands.
-- expires_at is the earliest time a conversation of the chat times out (UTC), NULL when none
-- is in progress: the sweep that closes abandoned flows reads it.

CREATE TABLE chat_states (
    chat_id    BIGINT          NOT NULL,
    version    BIGINT UNSIGNED NOT NULL,
    state      JSON            NOT NULL,
    expires_at DATETIME(3)     NULL,
    updated_at TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
                               ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (chat_id),
    KEY ix_chat_states_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
