"""The staff desk on Telegram: a forum supergroup with one topic per customer.

The core only says where a message goes (`Staff()` is the General topic, `Staff(about=key)`
that customer's thread) and what kind it is. This adapter owns the topics: Telegram has no API
to list them, so the conversation↔topic map is kept in the store. A topic is created when its
first message goes out; "ticket_open" reopens it first (it may have been closed), and
"ticket_close" closes it after its message. The outbox sends one destination's rows in order,
so two quick first messages still make one topic. A topic someone deleted ("message thread not
found") is recreated, briefed again with the last messages, and the message goes into the new
one: nothing is lost.

It also turns what staff write in a customer's topic into inbound events for that conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from telegram import Bot, InputFile, Message
from telegram.error import BadRequest, TelegramError

from bot.channels.telegram_sender import TopicLost, reply_cost, send_forward, send_reply, translated
from bot.messages import Forward, Inbound, Notice, Reply, Staff
from bot.outbox import OutboxRow, SlidingWindow
from bot.store import Store

log = logging.getLogger(__name__)

GROUP_LIMIT = (20, timedelta(minutes=1))  # Telegram: about 20 messages a minute in a group
TOPIC_NAME_LIMIT = 128


def group_window() -> SlidingWindow:
    return SlidingWindow(*GROUP_LIMIT)


class TelegramDesk:
    """Sends rows for `Staff` destinations into the staff group and its topics."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        store: Store,
        clock: Callable[[], datetime],
        staff_text: Callable[..., str],
    ):
        self.bot, self.chat_id, self.store, self.clock = bot, chat_id, store, clock
        self.staff_text = staff_text  # renders a staff template in the staff's language
        # channel → async fetch(ref) -> (bytes, content type): media of users on other channels
        # (LINE), which Telegram cannot copy; `quotebot serve` fills it in.
        self.media_sources: Mapping[str, Callable[[str], Awaitable[tuple[bytes, str]]]] = {}
        self._topics_seen: set[Staff] = set()  # topics this process has posted in (for `cost`)

    async def deliver(self, rows: Sequence[OutboxRow]) -> None:
        for row in rows:
            try:
                await self.send(row)
            except TelegramError as e:
                raise translated(e) from None
            await row.sent()

    def costs(self, rows: Sequence[OutboxRow]) -> list[int]:
        """Messages each row (of one destination, in order) posts in the group. Creating,
        reopening or closing a topic posts a service message too: counted for the first row to a
        topic this process has not posted in yet (it may have to be created) and for
        ticket_open / ticket_close; a lost topic made again, rare, is not counted."""
        costs, unseen = [], rows[0].destination not in self._topics_seen if rows else False
        for n, row in enumerate(rows):
            if isinstance(row.body, Notice):
                costs.append(0)
                continue
            topic = row.destination.about is not None and (
                (unseen and n == 0) or row.kind in ("ticket_open", "ticket_close")
            )
            costs.append(int(topic) + (1 if isinstance(row.body, Forward) else reply_cost(row.body)))
        return costs

    async def send(self, row: OutboxRow) -> None:
        destination, body = row.destination, row.body
        assert isinstance(destination, Staff), row
        if isinstance(body, Notice):
            return  # staff taps get no toast
        await row.attempt()  # every call below makes something new (a post, a topic)
        if destination.about is None:  # General, or the topic a staff message came from
            await self._post(body, (row.reply_ctx or {}).get("thread"))
            return
        thread = await self._topic(destination)
        self._topics_seen.add(destination)
        try:
            if row.kind == "ticket_open":
                await self._quietly(self.bot.reopen_forum_topic(self.chat_id, thread))
            await self._post(body, thread)
        except TopicLost:
            log.warning("topic %s of %s was deleted; making a new one", thread, destination.about)
            thread = await self._topic(destination, lost=thread)
            await self._post(body, thread)
        if row.kind == "ticket_close":
            await self._quietly(self.bot.close_forum_topic(self.chat_id, thread))

    async def _post(self, body: Reply | Forward, thread: int | None) -> None:
        if isinstance(body, Forward) and body.channel in self.media_sources:
            await self._post_media(body, thread)
        elif isinstance(body, Forward):
            await send_forward(self.bot, self.chat_id, body, thread=thread)
        else:
            await send_reply(self.bot, self.chat_id, body, thread=thread)

    async def _post_media(self, forward: Forward, thread: int | None) -> None:
        """A photo or file from another channel: fetched from that platform, posted here."""
        content, content_type = await self.media_sources[forward.channel](forward.ref)
        caption = forward.caption or None
        try:
            if content_type.startswith("image/"):
                photo = InputFile(content, filename=f"{forward.channel}-{forward.ref}.jpg")
                await self.bot.send_photo(self.chat_id, photo, caption=caption, message_thread_id=thread)
            else:
                extension = content_type.rsplit("/", 1)[-1].split("+")[0] or "bin"
                document = InputFile(content, filename=f"{forward.channel}-{forward.ref}.{extension}")
                await self.bot.send_document(
                    self.chat_id, document, caption=caption, message_thread_id=thread
                )
        except BadRequest as e:
            if thread is not None and "thread not found" in e.message.lower():
                raise TopicLost() from None
            raise

    async def _topic(self, staff: Staff, lost: int | None = None) -> int:
        """The conversation's topic, created (and briefed) when there is none or it was lost."""
        conversation = staff.about
        assert conversation is not None
        async with self.store.transaction() as tx:
            known = await tx.topic_of(conversation)
        if known and known["thread_id"] and known["thread_id"] != lost:
            return known["thread_id"]
        name = (staff.title or (known or {}).get("name") or str(conversation))[:TOPIC_NAME_LIMIT]
        topic = await self.bot.create_forum_topic(self.chat_id, name)
        thread = topic.message_thread_id
        async with self.store.transaction() as tx:
            await tx.set_topic(conversation, thread, name, self.clock())
            transcript = await tx.transcript(conversation, limit=10)
        if lost is not None:
            note = self.staff_text(
                "staff/topic_recreated", conversation=str(conversation), transcript=transcript
            )
            await send_reply(self.bot, self.chat_id, Reply("staff/topic_recreated", note), thread=thread)
        return thread

    @staticmethod
    async def _quietly(call) -> None:
        """Closing a closed topic or reopening an open one is not worth failing a message for."""
        try:
            await call
        except BadRequest as e:
            log.info("topic state unchanged: %s", e.message)

    # -- inbound: staff writing in a customer's topic ----------------------------------------

    async def to_inbound(self, message: Message, update_id: int) -> Inbound | None:
        """A staff message in a topic, as an event of the topic's conversation (None: the topic
        belongs to nobody we know)."""
        thread = message.message_thread_id
        async with self.store.transaction() as tx:
            conversation = await tx.conversation_of_topic(thread)
        if conversation is None:
            return None
        return Inbound(
            conversation=conversation,
            kind="text" if message.text is not None else "media",
            text=message.text or "",
            event_id=f"telegram:{update_id}",
            ref=f"{message.chat_id}:{message.message_id}",
            order=update_id,
            from_staff=True,
            reply_ctx={"thread": thread},
        )
