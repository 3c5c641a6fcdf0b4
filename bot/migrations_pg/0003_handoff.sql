-- PostgreSQL twin of bot/migrations/0003: tickets, forum topics, the last messages.

CREATE TABLE tickets (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation  text NOT NULL,
    opened_at     timestamptz NOT NULL,
    answered_at   timestamptz,                 -- first staff message
    closed_at     timestamptz,
    closed_by     text,                        -- "staff" | "user"
    notes         jsonb NOT NULL DEFAULT '[]'  -- staff /note entries, never shown to the user
);
-- One open ticket per conversation, whichever worker opens it: the constraint decides, not a
-- select-then-insert (two workers would both see none and both insert).
CREATE UNIQUE INDEX tickets_one_open ON tickets (conversation) WHERE closed_at IS NULL;
CREATE INDEX tickets_by_conversation ON tickets (conversation);

-- One topic per conversation (the primary key) and one conversation per topic.
CREATE TABLE topics (
    conversation  text PRIMARY KEY,
    thread_id     bigint,                      -- NULL until created, and after Telegram lost it
    name          text NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX topics_by_thread ON topics (thread_id) WHERE thread_id IS NOT NULL;

CREATE TABLE transcript (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation  text NOT NULL,
    at            timestamptz NOT NULL,
    speaker       text NOT NULL,               -- "user" | "bot" | "staff"
    text          text NOT NULL
);
CREATE INDEX transcript_by_conversation ON transcript (conversation, id);
