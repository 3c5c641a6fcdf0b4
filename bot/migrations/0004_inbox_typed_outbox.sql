-- One way in, one way out (issue 8).
-- The inbox: every platform event is committed here before the platform is told we have it,
-- then its conversation's turn runs from here. A handled event keeps only its id (to recognise
-- a redelivery) for a week; it replaces processed_events.
-- The typed outbox: every message the bot sends, direct replies included, as a neutral envelope
-- (bot/messages.py: destination, body, kind) instead of Telegram-shaped payloads.

CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY,
    event_id      TEXT UNIQUE,             -- the platform's id; NULL when it has none (console)
    conversation  TEXT NOT NULL,           -- "<channel>:<chat id>"; '' once handled and forgotten
    ord           INTEGER,                 -- the platform's order (Telegram update_id), else NULL
    inbound       TEXT,                    -- JSON (bot/messages.py Inbound); NULL once handled
    received_at   TEXT NOT NULL,
    done_at       TEXT,
    error         TEXT                     -- why the turn failed for good
);
CREATE INDEX inbox_pending ON inbox (conversation, ord, id) WHERE done_at IS NULL;
CREATE INDEX inbox_handled ON inbox (done_at) WHERE done_at IS NOT NULL;

INSERT INTO inbox (event_id, conversation, received_at, done_at)
    SELECT event_id, '', processed_at, processed_at FROM processed_events;
DROP TABLE processed_events;

CREATE TABLE envelopes (
    id           INTEGER PRIMARY KEY,
    destination  TEXT NOT NULL,            -- "telegram:123", "staff" or "staff:telegram:123"
    route        TEXT NOT NULL,            -- who sends it: "staff" or the conversation's channel
    kind         TEXT NOT NULL,            -- reply | alert | relay | reminder | ticket_open | ticket_close
    envelope     TEXT NOT NULL,            -- JSON: Envelope.to_json()
    tag          TEXT,                     -- lets a pending message be cancelled (a reminder)
    not_before   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX envelopes_due ON envelopes (route, not_before) WHERE sent_at IS NULL;
CREATE INDEX envelopes_by_destination ON envelopes (destination, id) WHERE sent_at IS NULL;
CREATE INDEX envelopes_by_tag ON envelopes (tag) WHERE sent_at IS NULL;

-- Old rows, in the new shape. Payloads were {"text", "buttons", "document"} (our HTML),
-- {"plain"} (someone's words, now escaped), {"copy": {from_chat_id, message_id}} (a Telegram
-- message), and for staff "topic_of" / "topic_name" / "reopen_topic" / "close_topic".
INSERT INTO envelopes
    (id, destination, route, kind, envelope, tag, not_before, attempts, last_error, sent_at, created_at)
SELECT id, dest, route, kind,
       json_object(
           'to', dest, 'kind', kind,
           'title', json_extract(payload, '$.topic_name'),
           'tag', tag,
           'body', json(CASE
               WHEN json_extract(payload, '$.copy') IS NOT NULL THEN json_object(
                   'type', 'forward', 'channel', 'telegram', 'caption', '',
                   'ref', json_extract(payload, '$.copy.from_chat_id') || ':'
                          || json_extract(payload, '$.copy.message_id'))
               WHEN json_extract(payload, '$.plain') IS NOT NULL THEN json_object(
                   'type', 'reply', 'key', '',
                   'text', replace(replace(replace(json_extract(payload, '$.plain'),
                           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'))
               ELSE json_object(
                   'type', 'reply', 'key', '',
                   'text', coalesce(json_extract(payload, '$.text'), ''),
                   'choices', json(coalesce(json_extract(payload, '$.buttons'), '[]')),
                   'document', json(json_extract(payload, '$.document')))
           END)),
       tag, not_before, attempts, last_error, sent_at, created_at
FROM (
    SELECT *,
           CASE WHEN destination = 'staff' AND json_extract(payload, '$.topic_of') IS NOT NULL
                THEN 'staff:' || json_extract(payload, '$.topic_of') ELSE destination END AS dest,
           CASE WHEN destination = 'staff' THEN 'staff'
                ELSE substr(destination, 1, instr(destination, ':') - 1) END AS route,
           CASE WHEN destination != 'staff' THEN (CASE WHEN tag LIKE 'remind:%' THEN 'reminder' ELSE 'relay' END)
                WHEN json_extract(payload, '$.reopen_topic') THEN 'ticket_open'
                WHEN json_extract(payload, '$.close_topic') THEN 'ticket_close'
                WHEN json_extract(payload, '$.topic_of') IS NOT NULL THEN 'relay'
                ELSE 'alert' END AS kind
    FROM outbox
);
DROP TABLE outbox;
