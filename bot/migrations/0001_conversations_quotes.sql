-- Conversations, the platform events already processed, reference counters and saved quotes.
-- Times are UTC ISO 8601 text ("2026-11-22T03:04:05+00:00"): they sort as they compare.

CREATE TABLE conversations (
    key         TEXT PRIMARY KEY,          -- "<channel>:<platform chat id>"
    channel     TEXT NOT NULL,
    state       TEXT NOT NULL,             -- JSON: dialog, step, answers, language (see bot/state.py)
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Telegram and LINE redeliver; an event id seen here is ignored. Pruned after a retention period.
CREATE TABLE processed_events (
    event_id     TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX processed_events_by_time ON processed_events (processed_at);

-- Per-day sequence numbers for references such as Q-20261122-0001.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE quotes (
    ref          TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    quote        TEXT NOT NULL             -- JSON, as `quotebot quote --json` prints it
);
CREATE INDEX quotes_by_conversation ON quotes (conversation, created_at);
