-- name: get_chat_state
-- A chat's conversation state and the version it is at (bot/shared_state.py).
SELECT version, state FROM chat_states WHERE chat_id = :chat_id

-- name: insert_chat_state
-- A chat's first state; a concurrent first write of the same chat is refused by the key.
INSERT INTO chat_states (chat_id, version, state, expires_at)
VALUES (:chat_id, 1, :state, :expires_at)

-- name: update_chat_state
-- A chat's next state, only if nobody wrote it since it was read at :version.
UPDATE chat_states SET version = version + 1, state = :state, expires_at = :expires_at
WHERE chat_id = :chat_id AND version = :version

-- name: expired_chat_states
-- Chats with a conversation whose time ran out (the sweep closes them), oldest first.
SELECT chat_id FROM chat_states WHERE expires_at <= :now ORDER BY expires_at LIMIT 100
