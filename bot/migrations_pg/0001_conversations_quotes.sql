-- PostgreSQL twin of bot/migrations/0001: conversations, processed events, counters, quotes.
-- Same numbers as the SQLite migrations, so one schema version means one set of tables on both.
-- Real types here: jsonb for JSON documents, timestamptz for moments.

CREATE TABLE conversations (
    key         text PRIMARY KEY,              -- "<channel>:<platform chat id>"
    channel     text NOT NULL,
    state       jsonb NOT NULL,                -- dialog, step, answers, language (see bot/state.py)
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
-- Retention finds stale conversations by this; with a million rows a scan would not do.
CREATE INDEX conversations_by_update ON conversations (updated_at);

-- Telegram and LINE redeliver; an event id seen here is ignored. Pruned after a retention period.
CREATE TABLE processed_events (
    event_id     text PRIMARY KEY,
    processed_at timestamptz NOT NULL
);
CREATE INDEX processed_events_by_time ON processed_events (processed_at);

-- Per-day sequence numbers for references such as Q-20261122-0001.
CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);

CREATE TABLE quotes (
    ref          text PRIMARY KEY,
    conversation text NOT NULL,
    created_at   timestamptz NOT NULL,
    quote        jsonb NOT NULL                -- as `quotebot quote --json` prints it
);
CREATE INDEX quotes_by_conversation ON quotes (conversation, created_at);
