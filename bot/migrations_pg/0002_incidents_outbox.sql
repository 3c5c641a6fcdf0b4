-- PostgreSQL twin of bot/migrations/0002: incident records and the outbox.

CREATE TABLE incidents (
    ref          text PRIMARY KEY,             -- I-20261122-0001
    conversation text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    record       jsonb NOT NULL                -- facts, assessment, checklist (see dialogs/incident.py)
);
CREATE INDEX incidents_by_conversation ON incidents (conversation, created_at);

CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination  text NOT NULL,                -- a conversation key ("telegram:123") or "staff"
    payload      jsonb NOT NULL,               -- text, buttons, document, thread, copy...
    tag          text,                         -- lets a pending message be cancelled (a reminder)
    not_before   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    sent_at      timestamptz,
    created_at   timestamptz NOT NULL
);
CREATE INDEX outbox_due ON outbox (not_before, id) WHERE sent_at IS NULL;
CREATE INDEX outbox_by_tag ON outbox (tag) WHERE sent_at IS NULL;
CREATE INDEX outbox_by_destination ON outbox (destination);
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
