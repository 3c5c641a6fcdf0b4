-- Issue 13: a prompt for a step the user has left is not delivered late, and a message whose
-- send had an unknown outcome is sent again at most once per such send, logged.
-- question: on a turn's direct reply that asks a question (a Reply with choices), the question
--   it asks (its choices' tokens, space-separated); a newer turn that leaves another question
--   open marks the unsent ones superseded (bot/engine.py).
-- uncertain: sends of the row that may have reached the platform although it never said so
--   (a timeout, or the process died during the call); written before such a send starts.
ALTER TABLE envelopes ADD COLUMN question TEXT;
ALTER TABLE envelopes ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
CREATE INDEX envelopes_questions ON envelopes (destination) WHERE sent_at IS NULL AND question IS NOT NULL;
