-- PostgreSQL twin of bot/migrations/0005 (issue 13): the question an unsent prompt asks (a
-- newer turn that leaves another question open supersedes it), and the sends of a row whose
-- outcome is unknown (written before such a send starts).
ALTER TABLE envelopes ADD COLUMN question text;
ALTER TABLE envelopes ADD COLUMN uncertain integer NOT NULL DEFAULT 0;
CREATE INDEX envelopes_questions ON envelopes (destination) WHERE sent_at IS NULL AND question IS NOT NULL;
