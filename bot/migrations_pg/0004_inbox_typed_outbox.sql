-- PostgreSQL twin of bot/migrations/0004 (issue 8): the inbox replaces processed_events, typed
-- envelopes replace the outbox. No PostgreSQL database held outbox rows before this migration
-- (the backend arrived with it), so only the handled event ids are carried over.
-- Plus what several workers on one database need (issue 14): the moment a row arrived by the
-- database's own clock (the settle window), and leases on destinations (one sender at a time).

CREATE TABLE inbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      text UNIQUE,                 -- the platform's id; NULL when it has none (console)
    conversation  text NOT NULL,               -- "<channel>:<chat id>"; '' once handled and forgotten
    ord           bigint,                      -- the platform's order (Telegram update_id), else NULL
    inbound       jsonb,                       -- bot/messages.py Inbound; NULL once handled
    received_at   timestamptz NOT NULL,        -- the engine's clock
    arrived_at    timestamptz NOT NULL DEFAULT clock_timestamp(),  -- the database's clock
    done_at       timestamptz,
    error         text                         -- why the turn failed for good
);
CREATE INDEX inbox_pending ON inbox (conversation, ord, id) WHERE done_at IS NULL;
CREATE INDEX inbox_pending_by_age ON inbox (id) WHERE done_at IS NULL;
CREATE INDEX inbox_handled ON inbox (done_at) WHERE done_at IS NOT NULL;

INSERT INTO inbox (event_id, conversation, received_at, done_at)
    SELECT event_id, '', processed_at, processed_at FROM processed_events;
DROP TABLE processed_events;

DROP TABLE outbox;
CREATE TABLE envelopes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination  text NOT NULL,                -- "telegram:123", "staff" or "staff:telegram:123"
    route        text NOT NULL,                -- who sends it: "staff" or the conversation's channel
    kind         text NOT NULL,                -- reply | alert | relay | reminder | ticket_open | ticket_close
    envelope     jsonb NOT NULL,               -- Envelope.to_json()
    tag          text,                         -- lets a pending message be cancelled (a reminder)
    not_before   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    sent_at      timestamptz,
    created_at   timestamptz NOT NULL
);
CREATE INDEX envelopes_due ON envelopes (route, not_before) WHERE sent_at IS NULL;
CREATE INDEX envelopes_by_destination ON envelopes (destination, id) WHERE sent_at IS NULL;
CREATE INDEX envelopes_by_tag ON envelopes (tag) WHERE sent_at IS NULL;
CREATE INDEX envelopes_sent ON envelopes (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX envelopes_all_by_destination ON envelopes (destination);

-- Who is sending a destination's rows right now. A worker holds a destination until `until`
-- (renewed as it sends); a worker killed mid-send simply lets it expire.
CREATE TABLE outbox_leases (
    destination  text PRIMARY KEY,
    owner        text NOT NULL,
    until        timestamptz NOT NULL
);

-- Sends per destination in a sliding window (the staff group's 20 a minute), shared by workers.
CREATE TABLE send_log (
    destination  text NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX send_log_by_destination ON send_log (destination, at);
