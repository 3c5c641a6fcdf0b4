"""What only the PostgreSQL store has: migrations under an advisory lock, real types, the pool.

These run against the throwaway server that `make test` and CI start (QUOTEBOT_TEST_PG_URL).
"""

import asyncio

import asyncpg
import pytest

from bot.app import open_app
from bot.messages import Inbound, Key
from bot.settings import ConfigError, Settings
from bot.store import StoreError, open_store
from bot.store.postgres import MIGRATION_LOCK, PostgresStore, describe, migrations
from tests.support.backends import fresh_pg_url
from tests.support.transcript import NOW

PgStore = PostgresStore
A = Key("telegram", "1")


@pytest.fixture
async def empty_pg():
    """The test server with no tables at all."""
    return await fresh_pg_url(empty=True)


async def test_pg_workers_starting_together_migrate_once(empty_pg):
    """Five workers open an empty database at once: all start, each migration is applied once."""
    stores = await asyncio.gather(*(PgStore.open(empty_pg, pool_size=2) for _ in range(5)))
    try:
        assert [await s.schema_version() for s in stores] == [len(migrations())] * 5
    finally:
        for s in stores:
            await s.close()
    conn = await asyncpg.connect(empty_pg)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [(r["version"], r["name"]) for r in rows] == [
        (1, "0001_conversations_quotes"),
        (2, "0002_incidents_outbox"),
        (3, "0003_handoff"),
        (4, "0004_inbox_typed_outbox"),
        (5, "0005_outbox_questions_uncertain"),
        (6, "0006_purge_indexes"),
    ]


async def test_pg_a_restarting_worker_runs_no_ddl_and_takes_no_lock(empty_pg):
    """Live traffic holds row locks and another session holds the migration lock: a worker that
    starts on an up-to-date schema neither waits for them nor runs any DDL (an event trigger
    would refuse it)."""
    first = await PgStore.open(empty_pg)
    other = await asyncpg.connect(empty_pg)
    try:
        await other.execute(
            "CREATE FUNCTION public.refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'DDL while live: %', tg_tag; END $$;"
            " CREATE EVENT TRIGGER refuse_ddl ON ddl_command_start EXECUTE FUNCTION public.refuse_ddl()"
        )
        await other.execute("BEGIN")
        await other.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        async with first.transaction() as tx:  # a turn in flight, holding its row locks
            await tx.save_conversation(A, {"dialog": "start"}, NOW)
            second = await asyncio.wait_for(PgStore.open(empty_pg), timeout=5)
            await second.close()
    finally:
        await other.execute("ROLLBACK")
        await other.execute("DROP EVENT TRIGGER refuse_ddl; DROP FUNCTION public.refuse_ddl()")
        await other.close()
        await first.close()


async def test_pg_refuses_a_database_from_a_newer_program(empty_pg):
    store = await PgStore.open(empty_pg)
    await store.close()
    conn = await asyncpg.connect(empty_pg)
    await conn.execute("INSERT INTO schema_migrations VALUES (99, '0099_future', now())")
    await conn.close()
    with pytest.raises(StoreError, match="newer"):
        await PgStore.open(empty_pg)


async def test_pg_stores_real_types(empty_pg):
    """Documents are jsonb and moments timestamptz, not text."""
    store = await PgStore.open(empty_pg)
    await store.close()
    conn = await asyncpg.connect(empty_pg)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name <> 'schema_migrations'"
        )
    finally:
        await conn.close()
    types = {(r["table_name"], r["column_name"]): r["data_type"] for r in rows}
    for column in [("conversations", "state"), ("quotes", "quote"), ("incidents", "record")]:
        assert types[column] == "jsonb", column
    assert types[("envelopes", "envelope")] == types[("tickets", "notes")] == types[("inbox", "inbound")]
    assert types[("inbox", "inbound")] == "jsonb"
    moments = {
        k: v for k, v in types.items() if k[1].endswith("_at") or k[1] in ("at", "not_before", "until")
    }
    # conversations 2, quotes 1, incidents 2, tickets 3, topics 1, transcript 1, inbox 3,
    # envelopes 3, outbox_leases 1, send_log 1
    assert len(moments) == 18 and set(moments.values()) == {"timestamp with time zone"}


async def test_pg_one_open_ticket_is_a_constraint(empty_pg):
    """Even a raw insert cannot make a second open ticket for the same conversation."""
    store = await PgStore.open(empty_pg)
    async with store.transaction() as tx:
        await tx.open_ticket(A, NOW)
    await store.close()
    conn = await asyncpg.connect(empty_pg)
    try:
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO tickets (conversation, opened_at) VALUES ('telegram:1', now())")
    finally:
        await conn.close()


async def test_pg_unreachable_server_is_one_clear_error_without_the_password():
    """A wrong port is a StoreError naming the server, never the password."""
    url = "postgresql://bot:s3cret-password@127.0.0.1:1/quotebot"
    with pytest.raises(StoreError) as caught:
        await open_store(url)
    assert "127.0.0.1:1/quotebot" in str(caught.value) and "s3cret" not in str(caught.value)
    assert describe(url) == "PostgreSQL postgresql://bot@127.0.0.1:1/quotebot"


def test_pg_settings_pool_and_settle_window():
    """Pool size and settle window are PostgreSQL's only; the URL's password is a secret."""
    url = "postgresql://bot:pw@db/q"
    settings = Settings.from_env({"QUOTEBOT_DB": url, "QUOTEBOT_DB_POOL": "4", "QUOTEBOT_SETTLE_MS": "0"})
    assert settings.store_options() == {"pool_size": 4, "settle": 0.0} and "pw" in settings.secrets
    assert Settings.from_env({"QUOTEBOT_DB": url}).store_options() == {"pool_size": 10, "settle": 0.3}
    assert Settings.from_env({"QUOTEBOT_DB": "x.db", "QUOTEBOT_DB_POOL": "4"}).store_options() == {}
    for name, bad in [("QUOTEBOT_DB_POOL", "0"), ("QUOTEBOT_DB_POOL", "ten"), ("QUOTEBOT_SETTLE_MS", "-1")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: bad})


async def test_pg_quotebot_db_url_selects_postgresql(empty_pg):
    """QUOTEBOT_DB=postgresql://... opens the PostgreSQL store, sized by QUOTEBOT_DB_POOL."""
    app = await open_app(env={"QUOTEBOT_DB": empty_pg, "QUOTEBOT_DB_POOL": "3"})
    try:
        assert isinstance(app.store, PgStore)
        assert app.store._pool.get_max_size() == 3
    finally:
        await app.close()


async def test_pg_settle_window_lets_a_late_earlier_update_go_first(empty_pg):
    """Update 9 arrives, update 7 of the same chat 50 ms later: 7 is still run first."""
    # A wide window: on a loaded machine the late update's own transaction can take a while.
    store = await PgStore.open(empty_pg, settle=1.5)
    try:
        async with store.transaction() as tx:
            await tx.add_inbound(Inbound(A, "text", "nine", event_id="u9", order=9), NOW)

        async def late():
            await asyncio.sleep(0.05)
            async with store.transaction() as tx:
                await tx.add_inbound(Inbound(A, "text", "seven", event_id="u7", order=7), NOW)

        async def first():
            async with store.transaction() as tx:
                return (await tx.next_inbound(A)).inbound.text

        seen, _ = await asyncio.gather(first(), late())
        assert seen == "seven"
    finally:
        await store.close()


async def test_pg_a_conversation_is_claimed_by_one_worker_at_a_time(empty_pg):
    """While one worker's turn holds a conversation, another worker gets None for it."""
    one, two = await PgStore.open(empty_pg, settle=0), await PgStore.open(empty_pg, settle=0)
    try:
        async with one.transaction() as tx:
            await tx.add_inbound(Inbound(A, "text", "a", event_id="e1"), NOW)
            await tx.add_inbound(Inbound(A, "text", "b", event_id="e2"), NOW)
        async with one.transaction() as tx1:
            item = await tx1.next_inbound(A)
            async with two.transaction() as tx2:
                assert await tx2.next_inbound(A) is None
            await tx1.inbound_done(item.id, NOW)
        async with two.transaction() as tx2:
            assert (await tx2.next_inbound(A)).inbound.text == "b"
    finally:
        await one.close()
        await two.close()


async def test_pg_nul_characters_do_not_break_a_turn(empty_pg):
    """PostgreSQL cannot store U+0000: it becomes U+FFFD, the turn still commits."""
    store = await PgStore.open(empty_pg, settle=0)
    try:
        async with store.transaction() as tx:
            await tx.add_inbound(Inbound(A, "text", "a\x00b", event_id="e1"), NOW)
            await tx.save_conversation(A, {"name": "x\x00y", "raw": "\\u0000"}, NOW)
            await tx.note_transcript(A, [("user", "p\x00q")], NOW)
        async with store.transaction() as tx:
            assert (await tx.next_inbound(A)).inbound.text == "a\ufffdb"
            assert (await tx.load_conversation(A)).state == {"name": "x\ufffdy", "raw": "\\u0000"}
            assert (await tx.transcript(A))[0]["text"] == "p\ufffdq"
    finally:
        await store.close()


async def test_pg_a_reference_does_not_wait_for_another_turns_commit(empty_pg):
    """Two turns finishing a quote at once: the second gets its number while the first is still
    open (a counter row locked to the first's commit made every quote of the day queue). A turn
    rolled back keeps the number it took: a gap, never a reference given twice."""
    store = await PgStore.open(empty_pg, settle=0)
    try:
        async with store.transaction() as first:
            assert await first.next_reference("Q", "20261122") == "Q-20261122-0001"
            async with store.transaction() as second:
                assert await asyncio.wait_for(second.next_reference("Q", "20261122"), 5) == "Q-20261122-0002"
        with pytest.raises(RuntimeError):
            async with store.transaction() as failed:
                await failed.next_reference("Q", "20261122")
                raise RuntimeError("the turn failed")
        async with store.transaction() as tx:
            assert await tx.next_reference("Q", "20261122") == "Q-20261122-0004"
    finally:
        await store.close()


async def test_pg_a_state_change_outside_a_turn_waits_for_the_turn(empty_pg):
    """A LINE unfollow marks the user blocked while another worker's turn of that user runs: the
    mark waits for the turn's commit and adds to what it saved (it used to be undone by the
    turn's save, or to undo the turn's state)."""
    turn_worker, line_worker = await PgStore.open(empty_pg, settle=0), await PgStore.open(empty_pg, settle=0)
    try:
        async with turn_worker.transaction() as tx:
            await tx.add_inbound(Inbound(A, "text", "3億", event_id="e1"), NOW)
            await tx.save_conversation(A, {"step": 1}, NOW)

        async def mark_blocked():
            async with line_worker.transaction() as tx:
                await tx.hold_conversation(A)
                state = (await tx.load_conversation(A)).state
                await tx.save_conversation(A, {**state, "line_blocked": True}, NOW)

        async with turn_worker.transaction() as tx:
            item = await tx.next_inbound(A)  # the turn holds the conversation
            state = (await tx.load_conversation(A)).state
            marking = asyncio.create_task(mark_blocked())
            await asyncio.sleep(0.3)
            assert not marking.done()  # waiting for the turn
            await tx.save_conversation(A, {**state, "step": 2}, NOW)
            await tx.inbound_done(item.id, NOW)
        await asyncio.wait_for(marking, 10)
        async with turn_worker.transaction() as tx:
            assert (await tx.load_conversation(A)).state == {"step": 2, "line_blocked": True}
    finally:
        await turn_worker.close()
        await line_worker.close()
