-- PostgreSQL twin of bot/migrations/0006 (issue 15): the indexes retention's small batches
-- need (conversations_by_update, envelopes_sent, envelopes_all_by_destination) exist here since
-- 0001/0004; only the number is kept in step.
SELECT 1;
