-- Handing a conversation to people: tickets, the forum topic of each conversation (Telegram has
-- no API to list topics, so the map is ours), and the last messages shown in a ticket's header.

CREATE TABLE tickets (
    id            INTEGER PRIMARY KEY,
    conversation  TEXT NOT NULL,
    opened_at     TEXT NOT NULL,
    answered_at   TEXT,                    -- first staff message
    closed_at     TEXT,
    closed_by     TEXT,                    -- "staff" | "user"
    notes         TEXT NOT NULL DEFAULT '[]'  -- JSON: staff /note entries, never shown to the user
);
CREATE INDEX tickets_open ON tickets (conversation) WHERE closed_at IS NULL;

CREATE TABLE topics (
    conversation  TEXT PRIMARY KEY,
    thread_id     INTEGER,                 -- NULL until created, and after Telegram lost it
    name          TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX topics_by_thread ON topics (thread_id) WHERE thread_id IS NOT NULL;

-- The last few messages of each conversation (user, bot, staff), for a ticket's header.
CREATE TABLE transcript (
    id            INTEGER PRIMARY KEY,
    conversation  TEXT NOT NULL,
    at            TEXT NOT NULL,
    speaker       TEXT NOT NULL,           -- "user" | "bot" | "staff"
    text          TEXT NOT NULL
);
CREATE INDEX transcript_by_conversation ON transcript (conversation, id);
