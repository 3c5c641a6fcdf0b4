"""The engine: events in through the inbox, one turn per event, every message out through the outbox.

In: a channel calls `await engine.accept(inbounds)`. It returns once the events are committed
to the store's inbox (a redelivered event id is ignored); only then may the channel tell the
platform it has them. Each conversation's waiting events are then run one at a time, in order,
by a task of that conversation; different conversations' tasks run concurrently (their
transactions overlap where the store allows it: SQLite runs one transaction at a time, so only
their sending and waiting overlap there).

A turn is one transaction: it loads the conversation, runs the dialog step (bot/turn.py),
saves the state, marks the event handled and writes every message the turn sends (its direct
replies included) to the outbox. After the commit the outbox sends that turn's messages at
once (`Outbox.flush`); its worker sends whatever is left after a crash, a 429 or a network
error. So a crash at any point loses nothing: before the commit the event is still waiting in
the inbox, after it the messages are waiting in the outbox.

A turn that fails is rolled back; the event is then marked handled with the error and the user
is told something went wrong (a bug would fail the same way again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot import metrics
from bot.context import Resources, StaffSettings
from bot.handoff import on_staff_message, staff_desk
from bot.markup import to_plain
from bot.messages import Envelope, Inbound, Key, Notice, Reply, Staff
from bot.outbox import Outbox
from bot.state import new_state
from bot.store import CommitFailed, Store, Transaction
from bot.texts import LOCALES, Texts
from bot.turn import Turn
from dialogs.steps import Dialog

log = logging.getLogger(__name__)

# Telegram refuses longer messages anyway; a pasted novel in the console is cut here.
MAX_INBOUND_CHARS = 4096
SWEEP_SECONDS = 30.0  # look for waiting events nobody is running (after a failed store call)
WAKE_GRACE = 1.0  # seconds after another worker's NOTIFY before this one looks at that chat
SHARED_SWEEP_SECONDS = 5.0  # the same with several workers on one store (one may have died mid-turn)
SETTLE_LOOKS = 3  # times a turn waits for its event to settle (each wait at most the window)
# Turns being worked out and committed at once (their sending is not counted): enough to fill
# a group commit or two, few enough that a turn started waits for at most that much work
# ahead of it, not for every conversation that has something waiting.
TURNS_IN_FLIGHT = 16
# A user's events of one conversation that wait for a turn, at most: beyond it the newer ones
# are marked done unanswered and the chat is told so once (common/flood), so a flood of 600
# messages is answered with about this many turns, not 600 (Telegram would take ten minutes to
# accept those replies at one a second). Above an album's 10 photos and anyone's fast typing.
# Never while the user is with staff: then every message is relayed to a person, none answered.
FLOOD_KEEP = 20


class Engine:
    def __init__(
        self,
        store: Store,
        texts: Texts,
        dialogs: Mapping[str, Dialog],
        *,
        clock: Callable[[], datetime],
        data: Mapping[str, Any],
        staff: StaffSettings | None = None,
        outbox: Outbox | None = None,
    ):
        self.store = store
        self.texts = texts
        self.dialogs = dialogs
        self.clock = clock
        self.data = data  # loaded once at start-up (rate tables...), handed to dialog hooks
        self.staff = staff  # None: no staff desk to alert or hand over to
        self.setup = Resources(texts, dialogs, data, staff)  # what every turn is given
        self.outbox = outbox or Outbox(store, clock)
        self.live = False  # once started: accepted events are run at once, without settle()
        # channel -> answers a tap at once, with nothing to show, given the tap's reply_ctx:
        # called (on the event loop) as soon as a tap's turn is worked out and has no notice,
        # before its commit (see _take_turn). A channel without it answers with the turn's rows.
        # Not with several workers on one store: the tap's row may be sent by another worker,
        # which cannot know it was answered (and each turn commits on its own there, at once).
        self.plain_answers: dict[str, Callable[[dict | None], None]] = {}
        self._answer_early = not getattr(store, "shared", False)
        self._running: dict[Key, asyncio.Task] = {}
        self.inbox_wake = asyncio.Event()  # set when another process queued events (NOTIFY)
        self._dirty: set[Key] = set()  # events were accepted since the conversation's task looked
        self._flooded: set[Key] = set()  # told of a flood since their task last ran out of events
        # Only where turns are committed in groups (SQLite): there a turn waits for the work of
        # the group ahead; PostgreSQL runs each turn on its own connection from the pool.
        grouped = getattr(store, "unit", None) is not None
        self._slots = asyncio.Semaphore(TURNS_IN_FLIGHT) if grouped else contextlib.nullcontext()

    def staff_text(self, key: str, **params: Any) -> str:
        """A message for staff, in the staff's language."""
        return self.setup.staff_text(key, **params)

    # -- in ---------------------------------------------------------------------------------------

    async def accept(self, inbounds: Iterable[Inbound]) -> int:
        """Commit events to the inbox; how many were new. The channel may confirm them after.

        Where the store groups units of work (SQLite), the conversations' next turns are
        started before the events are committed: their units queue behind this one and, when
        nothing else is committing, join its group, so an event and the turn that answers it
        share one commit (one fsync). A turn reads the inbox after this unit has written it;
        its replies are sent only once that group is committed, like every turn's."""
        inbounds = [
            replace(i, text=i.text[:MAX_INBOUND_CHARS]) if len(i.text) > MAX_INBOUND_CHARS else i
            for i in inbounds
        ]
        now, early = self.clock(), self.live and getattr(self.store, "unit", None) is not None

        async def work(tx: Transaction) -> list[bool]:
            return [await tx.add_inbound(inbound, now) is not None for inbound in inbounds]

        committing = asyncio.ensure_future(self._unit(work))
        if early:
            for key in dict.fromkeys(i.conversation for i in inbounds):
                self._run(key)
        added = await committing
        for inbound, new in zip(inbounds, added, strict=True):  # counted once committed
            outcome = "accepted" if new else "duplicate"
            metrics.received(inbound.conversation.channel, inbound.conversation, outcome, kind=inbound.kind)
        # Once committed, look again: a turn started early may have looked before this unit ran
        # (the conversation's task was between turns), and then it found nothing. Where the
        # early turn had it, this costs one look that finds nothing (no write, no fsync).
        if self.live:
            for key in dict.fromkeys(i.conversation for i, new in zip(inbounds, added, strict=True) if new):
                self._run(key)
        return sum(added)

    async def post(self, envelopes: Iterable[Envelope]) -> None:
        """Messages a channel itself has to send (not a turn's): committed, then sent by the worker."""
        now = self.clock()
        async with self.store.transaction() as tx:
            for envelope in envelopes:
                await tx.enqueue(envelope, now)
        self.outbox.wake.set()

    # -- running turns ----------------------------------------------------------------------------

    def wake(self, key: Key) -> None:
        """A worker (maybe this one) committed an event of this conversation (NOTIFY). The
        worker that took it runs it; a moment later (`WAKE_GRACE`) this one looks too, in case
        that worker died, or was running the conversation's turn and had looked already. If this
        worker is running the conversation then, it looks once more after the turn in hand."""
        if self.live:
            asyncio.get_running_loop().call_later(WAKE_GRACE, lambda: self.live and self._run(key))

    def _run(self, key: Key) -> asyncio.Task:
        self._dirty.add(key)
        task = self._running.get(key)
        if task is None:
            task = self._running[key] = asyncio.create_task(self._conversation(key), name=f"turns {key}")
        return task

    async def _conversation(self, key: Key) -> None:
        """Run the conversation's waiting events in order, until there are none."""
        try:
            while True:
                self._dirty.discard(key)
                while await self.step(key):  # True while more events wait
                    pass
                if key not in self._dirty:  # no await between this check and leaving _running
                    self._flooded.discard(key)  # the flood is over: a next one is told again
                    return
        except Exception:
            log.exception("turns of %s stopped; the sweep will try again", key)
        finally:
            self._running.pop(key, None)

    async def settle(self, keys: Iterable[Key] | None = None) -> None:
        """Run every waiting event (of these conversations) now, and wait until they are done."""
        if keys is None:
            async with self.store.transaction() as tx:
                keys = await tx.pending_conversations(limit=10_000)
        tasks = [self._run(key) for key in dict.fromkeys(keys)]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self) -> None:
        """The inbox runner of a process: run what waited across a restart, then whatever
        `accept` brings at once, and sweep now and then for events nobody is running."""
        self.live = True
        try:
            while True:
                try:
                    async with self.store.transaction() as tx:
                        waiting = await tx.pending_conversations(limit=1000)
                    for key in waiting:
                        self._run(key)  # one running already looks again after its turn
                except Exception:
                    log.exception("inbox sweep failed; trying again")
                # Another worker's NOTIFY (PostgreSQL) sweeps at once; else every SWEEP_SECONDS
                # (sooner when workers share the store: a worker killed mid-turn leaves its
                # chat's event waiting, and only a sweep finds it).
                sweep = SHARED_SWEEP_SECONDS if getattr(self.store, "shared", False) else SWEEP_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.inbox_wake.wait(), timeout=sweep)
                self.inbox_wake.clear()
        finally:
            self.live = False
            for task in list(self._running.values()):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def step(self, key: Key) -> bool:
        """Run the conversation's next waiting event, then send what it said. True when another
        event of the conversation is waiting. At most TURNS_IN_FLIGHT turns are worked out and
        committed at once; sending is outside that bound (a chat whose sends hang holds no slot),
        and so is the wait for an event to settle (several workers)."""
        if not await self._settle(key):
            return False
        async with self._slots:
            done = await self._take_turn(key)
        if done is None:
            return False
        due, snapshot, more, later = done
        held = await self.outbox.flush(due, snapshot)
        # Rows held back by a rate limit, reminders, rows another process sends: the worker
        # works out when to look again. Otherwise nothing is left for it to do.
        if later or held is not None:
            self.outbox.wake.set()
        return more

    async def _take_turn(self, key: Key):
        """The turn of the conversation's next event, committed: (destinations due now, their
        rows as read in the transaction, whether more events wait, whether any row is not due
        now or not sent by this process); None when no event waits."""
        now, started, seen = self.clock(), time.perf_counter(), {}
        loop = asyncio.get_running_loop()

        def plain(inbound: Inbound) -> None:
            """A tap whose answer shows nothing: its channel may answer it now. What the turn
            decided still waits for the commit; an empty answer says nothing the turn decided
            (Telegram's spinner stops). Called where the turn is worked out, which on SQLite is
            the database thread: hence call_soon_threadsafe."""
            answer = self.plain_answers.get(inbound.conversation.channel)
            if answer is not None:
                loop.call_soon_threadsafe(answer, inbound.reply_ctx)

        def outcome(envelopes: list[Envelope]) -> tuple[list, bool]:
            due = [e.destination for e in envelopes if e.not_before is None or e.not_before <= now]
            later = len(due) < len(envelopes) or not all(self.outbox.handles(d) for d in due)
            return due, later

        async def work(tx: Transaction):
            item = await tx.next_inbound(key)
            if item is None:
                return None
            envelopes = await self._turn(tx, item.inbound, now, seen, plain if self._answer_early else None)
            await tx.inbound_done(item.id, now)
            # With staff, what the user writes is relayed, not answered: none of it is set aside.
            flood = not seen.get("with_staff") and await tx.overflow(key, FLOOD_KEEP, now)
            if flood and key not in self._flooded:
                envelopes.append(await self._flood_notice(tx, item.inbound))
                await tx.enqueue(envelopes[-1], now)
            due, later = outcome(envelopes)
            snapshot = await self.outbox.snapshot(tx, due, now)
            return due, snapshot, await tx.next_inbound(key) is not None, later

        try:
            done = await self._unit(work)
            if done is not None:
                metrics.turn(key.channel, key, seen.get("step"), "ok", time.perf_counter() - started)
            return done
        except CommitFailed:
            raise  # nothing of it was written: the event waits in the inbox, tried again later
        except Exception as e:
            metrics.turn(key.channel, key, seen.get("step"), "error", time.perf_counter() - started)
            log.exception("turn failed in %s", key)
            async with self.store.transaction() as tx:  # rolled back; now mark it, and say so
                item = await tx.next_inbound(key)
                if item is None:
                    return None
                envelopes = await self._failed(tx, item.inbound)
                for envelope in envelopes:
                    await tx.enqueue(envelope, now)
                await tx.inbound_done(item.id, now, error=repr(e))
                due, later = outcome(envelopes)
                return due, None, await tx.next_inbound(key) is not None, later

    async def _settle(self, key: Key) -> bool:
        """A store shared by several workers holds an ordered event back for a moment after it
        arrived, so that an earlier one reaching another worker a little later still goes first
        (Telegram's parallel webhook connections): that wait is spent here, before the turn's
        transaction, holding no connection. Bounded: a chat that keeps writing still moves.
        False when no event of the conversation waits (nothing to claim)."""
        settle_wait = getattr(self.store, "settle_wait", None)
        for _ in range(SETTLE_LOOKS if settle_wait is not None else 0):
            wait = await settle_wait(key)
            if wait is None:
                return False
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        return True

    async def _unit(self, work):
        """`work(tx)` as one unit of work: grouped with others ready at the same time where the
        store can (one round trip and one commit for the group), else in a transaction of its own."""
        unit = getattr(self.store, "unit", None)
        if unit is not None:
            return await unit(work)
        async with self.store.transaction() as tx:
            return await work(tx)

    async def _flood_notice(self, tx: Transaction, inbound: Inbound) -> Envelope:
        """The one message a flooding chat gets for the events set aside, in its language (sent
        on its own, not as an answer to one event: a LINE reply token carries five at most)."""
        self._flooded.add(inbound.conversation)
        row = await tx.load_conversation(inbound.conversation)
        lang = row.state.get("lang") if row is not None else None
        if lang not in LOCALES:
            lang = new_state(None if inbound.from_staff else inbound.locale_hint)["lang"]
        reply = Reply("common/flood", self.texts.render(lang, "common/flood"))
        return Envelope(inbound.conversation, reply, kind="reply")

    async def _failed(self, tx: Transaction, inbound: Inbound) -> list[Envelope]:
        """What the user (or staff) is told when their turn failed: in the conversation's language
        (an English user's error is in English), else the platform's hint's."""
        if inbound.from_staff:
            text = self.staff_text("common/error")
            return [Envelope(Staff(inbound.conversation), Reply("common/error", text), kind="alert")]
        row = await tx.load_conversation(inbound.conversation)
        lang = row.state.get("lang") if row is not None else None
        if lang not in LOCALES:
            lang = new_state(inbound.locale_hint)["lang"]
        reply = Reply("common/error", self.texts.render(lang, "common/error"))
        return _direct(inbound, [reply], Notice() if inbound.kind == "tap" else None)

    async def _turn(
        self,
        tx: Transaction,
        inbound: Inbound,
        now: datetime,
        seen: dict | None = None,
        plain: Callable[[Inbound], None] | None = None,
    ) -> list[Envelope]:
        """One event applied to its conversation; every message it sends is in the outbox after.
        `seen` gets the step the conversation rests at (for the turn's log line) and whether
        the user is with staff; `plain` is called with a tap whose answer shows nothing, once
        that is known."""
        row = await tx.load_conversation(inbound.conversation)
        turn = Turn(self.setup, tx, inbound, row.state if row else None, now)
        if inbound.from_staff:
            topic = await on_staff_message(turn, inbound.kind, inbound.text, inbound.ref)
            # What the user is told (ticket closed...) is relayed; answers to staff go to the topic.
            envelopes = [Envelope(inbound.conversation, r, kind="relay") for r in turn.replies]
            envelopes += [
                Envelope(staff_desk(turn), r, kind="reply", reply_ctx=inbound.reply_ctx) for r in topic
            ]
        else:
            await turn.run()
            # A tap is always answered (an empty notice stops the button spinning).
            notice = Notice(turn.notice or "") if inbound.kind == "tap" or turn.notice else None
            if notice is not None and not notice.text and plain is not None:
                plain(inbound)  # its row still goes in the commit: the channel answers once
            envelopes = _direct(inbound, turn.replies, notice)
            await self._remember(tx, turn)
            # A prompt still unsent for a question the user has left is not delivered late
            # (it would ask again what is answered, or show an old keyboard): superseded here,
            # in this turn's commit. What asks nothing is always delivered.
            await tx.supersede_questions(inbound.conversation, turn.open_question, now)
        await tx.save_conversation(inbound.conversation, turn.state, now)
        if seen is not None:
            seen["step"] = "staff" if inbound.from_staff else turn.where
            seen["with_staff"] = bool(turn.state.get("handoff"))
        for envelope in envelopes:
            await tx.enqueue(envelope, now)
        return turn.queued + envelopes

    async def _remember(self, tx: Transaction, turn: Turn) -> None:
        """The last messages, for the header of a ticket if the user later asks for a person."""
        said = turn.heard or turn.inbound.text  # a typed button number as the label it stood for
        lines = [("user", said)] if turn.inbound.kind == "text" else []
        lines += [("bot", to_plain(reply.text)[:200]) for reply in turn.replies]
        await tx.note_transcript(turn.inbound.conversation, lines, turn.now)


def _direct(inbound: Inbound, replies: Iterable[Reply], notice: Notice | None) -> list[Envelope]:
    """A turn's answers to the user: the tap's notice first (it stops the button spinning)."""
    bodies = ([notice] if notice is not None else []) + list(replies)
    return [Envelope(inbound.conversation, b, kind="reply", reply_ctx=inbound.reply_ctx) for b in bodies]
