-- Issue 15: retention runs in small batches (bot/store/__init__.py purge_in_batches), so each
-- batch must find its rows without reading whole tables: the stale conversations by when they
-- were last touched, old sent messages by when they were sent, and every message of a
-- conversation (sent or not) by its destination. PostgreSQL had these from the start.
CREATE INDEX conversations_by_update ON conversations (updated_at);
CREATE INDEX envelopes_sent ON envelopes (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX envelopes_all_by_destination ON envelopes (destination);
