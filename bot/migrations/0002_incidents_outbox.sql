-- Incident records with their checklist, and the outbox: every message that is not a direct
-- reply (staff alerts, reminders, relays) is written here in the same transaction as the
-- change that caused it, then sent by the channel's worker, retried until it goes out.

CREATE TABLE incidents (
    ref          TEXT PRIMARY KEY,             -- I-20261122-0001
    conversation TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    record       TEXT NOT NULL                 -- JSON: facts, assessment, checklist (see dialogs/incident.py)
);
CREATE INDEX incidents_by_conversation ON incidents (conversation, created_at);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    destination  TEXT NOT NULL,                -- a conversation key ("telegram:123") or "staff"
    payload      TEXT NOT NULL,                -- JSON: text, buttons, document, thread, copy...
    tag          TEXT,                         -- lets a pending message be cancelled (a reminder)
    not_before   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (not_before) WHERE sent_at IS NULL;
CREATE INDEX outbox_by_tag ON outbox (tag) WHERE sent_at IS NULL;
