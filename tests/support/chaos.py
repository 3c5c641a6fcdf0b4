"""Chaos run: the real `quotebot telegram` process, killed with SIGKILL at random moments, against
the local Bot API stub answering a share of calls with 429, 502, hangs and late successes.

Many merchants ask for a quote at once. Each one acts like a person: it waits for the bot's
answer before the next step, reads the buttons off the message as it is now, and, when nothing
comes for `patience` seconds, writes again once (a silence, counted). Some of them also probe
the bugs of issue 13: a double tap on a sales-channel button (two taps from the same keyboard
before its edit arrives), a tap on an older keyboard, and forged callback data.

Everything random comes from one seed: the merchants' answers and probes, the kill schedule, and
(through `Faults`) which call fails how. What threads and the kernel do with timing still varies,
so two runs with one seed meet the same faults on the same calls but may count differently.
Loopback only; every wait is bounded; the run stops by itself after `budget` seconds.

    python -m tests.support.chaos --seed 7 --conversations 300   # the long run, by hand (~5 min)

prints the counts and exits 1 if any must-be-zero count is not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.botapi_stub import BotApiStub, Faults

TOKEN = "424242:CHAOS-secret-token"
FIRST_CHAT = 710_000
ERROR_TEXT = "処理中にエラーが起きました"  # templates/ja/common/error.j2
REVENUE_PROMPT = "1/3 年間売上高"  # templates/ja/quote/revenue.j2
RESULT = "お見積り"  # templates/ja/quote/result.j2
STALE_KEYBOARD = "表示が古いボタンでした"  # templates/ja/common/stale_keyboard.j2: "tap again"
# Typed revenue and what it means, worked out by hand (rates/amounts.py's rules).
REVENUES = {
    "3億": 300_000_000,
    "5000万円": 50_000_000,
    "1億2,345万円": 123_450_000,
    "8億": 800_000_000,
    "300,000,000": 300_000_000,
    "2億5千万": 250_000_000,
}
INDUSTRIES = ("retail", "wholesale", "manufacturing", "it_services", "food_service", "services")
CHANNELS = ("rakuten", "own_ec", "other_mall", "physical_store", "events", "b2b")
# Counts that must be zero; the others are reported.
MUST_BE_ZERO = (
    "updates_lost",
    "answers_lost",
    "replies_lost_after_commit",
    "duplicates",
    "stale_changes",
    "silences",
    "unanswered_callbacks",
    "late_prompts",
    "errors_shown",
    "turn_exceptions",
    "unfinished",
    "secret_in_logs",
)


@dataclass(frozen=True)
class Plan:
    """One merchant's intended quote and the probes it tries on the way."""

    chat_id: int
    revenue_text: str
    industry: str
    channels: tuple[str, ...]
    start_at: float  # seconds after the run began
    double_tap: str | None = None  # a channel tapped twice from the same keyboard
    stale_tap: bool = False  # taps an industry on the old industry keyboard after moving on
    forged: bool = False  # sends quote.revenue.x while the revenue question is open

    @property
    def revenue_yen(self) -> int:
        return REVENUES[self.revenue_text]


# Messages and edits one merchant's quote costs (the bot's answers to taps come on top; Telegram
# does not count them): 2,703 for 300 quotes in the run with seed 13, probes included.
MESSAGES_PER_QUOTE = 9
# Telegram lets a bot send about 30 messages a second (bot/limits.py keeps to it). A long run
# whose merchants begin faster than that can be answered measures the queue, not the bot: 300
# merchants over 60 s ask for 45 a second, and with every one of them waiting for a reply each
# waits longer than its patience (41-51 of 300 finished). Half of Telegram's rate leaves room
# for the retries of the fifth of the calls that fail and for the places hung calls hold.
PACE = 15.0


def paced_ramp(conversations: int) -> float:
    """Seconds over which `conversations` merchants may begin for the bot to keep up at PACE."""
    return conversations * MESSAGES_PER_QUOTE / PACE


@dataclass
class Settings:
    seed: int = 1
    conversations: int = 30
    ramp: float = 8.0  # seconds over which the merchants begin
    kill_every: tuple[float, float] = (2.0, 5.0)  # seconds a bot serves (from its first poll) before its kill
    restart_after: tuple[float, float] = (0.0, 0.5)
    # Seconds a merchant waits for an answer before writing again. Not less than the longest
    # wait the fault model itself makes for one answer with no fault of the bot's: two hangs in
    # a row on one message (each 5.5 s before the stub answers or PTB's 5 s timeout gives up,
    # then the bot's retry after 0.5 s, rounded up to SQLite's whole second: up to 1.5 s) are
    # 14 s, and a kill in between costs a restart (1-3 s on this shared 2-core machine). At the
    # 14 s this was, the chaos runs' remaining silences were all such chains, every reply in
    # the database and sent after the merchant had given up waiting.
    patience: float = 20.0
    settle: float = 0.6  # seconds to let edits land after a tap was answered
    budget: float = 75.0  # the whole run, kills included; then it stops and counts
    grace: float = 10.0  # after the last kill: time for the bot to send what it owes
    fault_rate: float = 0.2
    redeliver: float = 0.1
    hang: float = 5.5  # past PTB's 5 s read timeout
    probes: bool = True  # double taps, stale taps, forged data (the issue-13 bugs)
    faults: bool = True


@dataclass
class Delivered:
    """A message that reached the chat (sendMessage/sendDocument answered ok, late or not)."""

    message_id: int
    text: str
    buttons: tuple[str, ...]
    at: float
    fault: str | None
    claimed: bool = False


@dataclass
class ChatView:
    delivered: list[Delivered] = field(default_factory=list)
    answered: dict[str, str | None] = field(default_factory=dict)  # callback query id -> toast
    edits: list[tuple[float, int, str | None]] = field(default_factory=list)


def _buttons(markup: dict | None) -> tuple[str, ...]:
    rows = (markup or {}).get("inline_keyboard", [])
    return tuple(b.get("callback_data", "") for row in rows for b in row)


def _labels(markup: dict | None) -> dict[str, str]:
    rows = (markup or {}).get("inline_keyboard", [])
    return {b.get("callback_data", ""): b.get("text", "") for row in rows for b in row}


def _token_for(data: tuple[str, ...], prefix: str) -> str | None:
    """The button for `prefix` ("quote.channels.rakuten"), whatever the bot appends after it."""
    return next((d for d in data if d == prefix or d.startswith(prefix + ".")), None)


def plans(settings: Settings) -> list[Plan]:
    rng = random.Random(f"plans:{settings.seed}")
    made = []
    for n in range(settings.conversations):
        channels = tuple(sorted(rng.sample(CHANNELS, rng.randint(1, 3)), key=CHANNELS.index))
        probes = settings.probes
        made.append(
            Plan(
                chat_id=FIRST_CHAT + n,
                revenue_text=rng.choice(sorted(REVENUES)),
                industry=rng.choice(INDUSTRIES),
                channels=channels,
                start_at=rng.uniform(0, settings.ramp),
                double_tap=rng.choice(channels) if probes and rng.random() < 0.3 else None,
                stale_tap=probes and rng.random() < 0.25,
                forged=probes and rng.random() < 0.25,
            )
        )
    return made


class Merchant:
    """One person in one private chat, stepping through a quote by what the bot shows."""

    def __init__(self, plan: Plan, run: ChaosRun):
        self.plan, self.run, self.chat = plan, run, plan.chat_id
        self.steps = self._steps()
        self.step = -1
        self.since = 0  # index into the chat's delivered messages at the last action
        self.first_since = 0  # ... at the first try of this step
        self.deadline = 0.0
        self.retried = False
        self.queries: list[str] = []
        self.updates: list[int] = []
        self.answered_at: float | None = None
        self.found: dict[str, Delivered] = {}
        self.fair: set[tuple[str, tuple[str, ...]]] = set()  # answers to a step it tried twice
        self.messages: dict[str, int] = {}  # prompt name -> message id
        self.done = False
        self.gave_up = False
        self.ref: str | None = None
        self.passed: set[str] = set()  # prompts the merchant has moved beyond
        self.answers: dict[str, list[str]] = {}  # question -> the callback queries that answered it
        self.tapped: int | None = None  # the message the last tap was on
        self.retaps = 0  # taps again after the bot called the tapped keyboard old
        self.stale_probed = False
        self.tapped_twice = False

    def _steps(self) -> list[str]:
        steps = ["start", "quote"]
        steps += ["forged"] if self.plan.forged else []
        steps += ["revenue", "industry"]
        steps += ["stale"] if self.plan.stale_tap else []
        steps += [f"tick:{c}" for c in self.plan.channels]
        return [*steps, "done"]

    @property
    def view(self) -> ChatView:
        return self.run.views.setdefault(self.chat, ChatView())

    # -- acting -----------------------------------------------------------------------------------

    def begin(self, now: float) -> None:
        self.step = 0
        self.act(now)

    def act(self, now: float) -> None:
        name = self.steps[self.step]
        stub = self.run.stub
        self.since = len(self.view.delivered)
        if not self.retried:
            self.first_since = self.since
        self.queries, self.answered_at, self.found = [], None, {}
        self.deadline = now + self.run.settings.patience
        if name == "start":
            self.updates.append(stub.push_message(self.chat, "/start"))
        elif name == "quote":
            self.tap("menu", "menu.start.quote")
        elif name == "forged":
            self.tap_raw(self.messages["revenue"], "quote.revenue.x")
        elif name == "revenue":
            self.passed.add("revenue")
            self.updates.append(stub.push_message(self.chat, self.plan.revenue_text))
        elif name == "industry":
            self.tap("industry", f"quote.industry.{self.plan.industry}")
            self.answers.setdefault("industry", []).extend(self.queries)
        elif name == "stale":
            other = next(i for i in INDUSTRIES if i != self.plan.industry)
            self.stale_probed = True
            self.tap("industry", f"quote.industry.{other}")
        elif name.startswith("tick:"):
            channel = name.partition(":")[2]
            if self.retried and self._shows_ticked(channel):
                return  # its spinner still turns, but the keyboard shows the tick: a person waits
            times = 2 if channel == self.plan.double_tap and not self.tapped_twice else 1
            self.tapped_twice |= times == 2
            self.tap("channels", f"quote.channels.{channel}", times=times)
        elif name == "done":
            self.tap("channels", "quote.channels.done")
            self.answers.setdefault("channels", []).extend(self.queries)

    def tap(self, prompt: str, prefix: str, *, times: int = 1) -> None:
        """Tap the button under the message as it is now; several times from one snapshot."""
        message_id = self.messages[prompt]
        if prompt == "channels" and (newest := self._current_channels()) is not None:
            message_id = self.messages[prompt] = newest[0]  # the keyboard shown last
        shown = _buttons(self.run.stub.message(self.chat, message_id).get("reply_markup"))
        data = _token_for(shown, prefix) or prefix  # a vanished button: what the old one said
        self.tapped = message_id
        for _ in range(times):
            self.tap_raw(message_id, data)

    def tap_raw(self, message_id: int, data: str) -> None:
        update_id = self.run.stub.push_callback(self.chat, message_id, data)
        self.updates.append(update_id)
        self.queries.append(self.run.stub.pending_update(update_id)["callback_query"]["id"])

    # -- watching ---------------------------------------------------------------------------------

    def check(self, now: float) -> None:
        if self.done or self.gave_up or self.step < 0:
            return
        name = self.steps[self.step]
        if self.expected(name, now):
            if self.retried:  # it wrote twice: an answer to each is fair, late or not
                for message in self.view.delivered[self.first_since :]:
                    message.claimed = True
                    self.fair.add((message.text, message.buttons))
            self.retried = False
            self.step += 1
            if self.step == len(self.steps):
                self.done = True
                return
            self.act(now)
        elif now > self.deadline:
            self.run.silence(self, name)
            if self.retried:
                self.gave_up = True  # counted as unfinished; what still comes is not judged
                return
            self.retried = True
            self.act(now)

    def _new(self, predicate, key: str = "") -> Delivered | None:
        """The first unclaimed message since the last action that fits; found once per action."""
        if key in self.found:
            return self.found[key]
        for message in self.view.delivered[self.since :]:
            if not message.claimed and predicate(message):
                message.claimed = True
                self.found[key] = message
                return message
        return None

    def _answered(self, now: float) -> bool:
        if not all(q in self.view.answered for q in self.queries):
            return False
        if self.answered_at is None:
            self.answered_at = now
        return now - self.answered_at >= self.run.settings.settle

    def _labels_of(self, message_id: int | None) -> dict[str, str]:
        if message_id is None:
            return {}
        return _labels(self.run.stub.message(self.chat, message_id).get("reply_markup"))

    def _shows_ticked(self, channel: str) -> bool:
        """Whether the newest channel keyboard shows this channel ticked (tapping it would untick)."""
        current = self._current_channels()
        token = _token_for(tuple(current[1]), f"quote.channels.{channel}") if current else None
        return token is not None and current[1][token].startswith("✅")

    def _current_channels(self) -> tuple[int, dict[str, str]] | None:
        """The newest message with the channel keyboard, as it is now."""
        for message in reversed(self.view.delivered):
            if any(b.startswith("quote.channels.") for b in message.buttons):
                shown = self.run.stub.message(self.chat, message.message_id).get("reply_markup")
                return message.message_id, _labels(shown)
        return None

    def expected(self, name: str, now: float) -> bool:
        if name == "start":
            found = self._new(lambda m: "menu.start.quote" in m.buttons)
            return self._remember("menu", found)
        if name == "quote":
            found = self._new(lambda m: REVENUE_PROMPT in m.text)
            return self._remember("revenue", found) and self._answered(now)
        if name == "forged":
            # The question again (the step's reprompt), the tap answered, and no error.
            if not self._answered(now):
                return False
            for message in self.view.delivered[self.since :]:
                message.claimed = True
            self._fair("revenue")  # the reprompt repeats the question, by design
            return True
        if name == "revenue":
            found = self._new(lambda m: any(b.startswith("quote.industry.") for b in m.buttons))
            return self._remember("industry", found)
        if name == "industry":
            found = self._new(lambda m: any(b.startswith("quote.channels.") for b in m.buttons))
            if self._remember("channels", found) and self._answered(now):
                self.passed.add("industry")
                return True
            return False
        if name == "stale":
            if not self._answered(now):
                return False
            for message in self.view.delivered[self.since :]:
                message.claimed = True  # "the current state" shown again is expected here
            self._fair("channels")
            return True
        if name.startswith("tick:"):
            if not self._answered(now):
                return False
            for message in self.view.delivered[self.since :]:
                if any(b.startswith("quote.channels.") for b in message.buttons):
                    message.claimed = True  # an edit the platform could not make, sent anew
            current = self._current_channels()
            if current is None:
                return False
            self.messages["channels"] = current[0]
            prefix = f"quote.channels.{name.partition(':')[2]}"
            # The tick shows on the message tapped (a copy that arrived meanwhile may be newer).
            for shown in (current[1], self._labels_of(self.tapped)):
                token = _token_for(tuple(shown), prefix)
                if token and shown[token].startswith("✅"):
                    return True
            if self._tap_again(now):
                return False
            if len(self.queries) == 2 and now > self.deadline:  # the second tap undid the first:
                self.run.counts["stale_changes"] += 1  # the merchant sees it and taps again
                self.run.stale.append(f"chat {self.chat}: double tap on {name} undid it")
                self.act(now)
            return False
        if name == "done":
            if self._answered(now) and self._tap_again(now):
                return False
            found = self._new(lambda m: m.text.removeprefix("<b>").startswith(RESULT), "result")
            if found is None or not self._answered(now):
                return False
            self.passed |= {"channels"}
            match = re.search(r"(Q-\d{8}-\d{4})", found.text)
            self.ref = match[1] if match else None
            self._new(lambda m: any(b.startswith("quote.next.") for b in m.buttons), "next")
            return True
        raise ValueError(name)

    def _tap_again(self, now: float) -> bool:
        """The bot said the keyboard tapped was an old one and showed the current state (a copy
        sent before the last tick arrived after it): a person taps again, on the current one."""
        toasts = [self.view.answered.get(q) or "" for q in self.queries]
        if not (toasts and all(STALE_KEYBOARD in t for t in toasts)) or self.retaps >= 3:
            return False
        self.retaps += 1
        self.run.counts["stale_keyboard_retaps"] += 1
        self.act(now)
        return True

    def _fair(self, prompt: str) -> None:
        """Copies of this prompt are answers to a probe (the open question shown again)."""
        for message in self.view.delivered:
            if message.message_id == self.messages.get(prompt):
                self.fair.add((message.text, message.buttons))

    def _remember(self, prompt: str, message: Delivered | None) -> bool:
        if message is None:
            return False
        self.messages[prompt] = message.message_id
        return True


class ChaosRun:
    def __init__(self, settings: Settings, workdir: Path):
        self.settings, self.workdir = settings, workdir
        self.db = workdir / "chaos.db"
        faults = (
            Faults(
                seed=settings.seed,
                rate=settings.fault_rate,
                hang=settings.hang,
                redeliver=settings.redeliver,
            )
            if settings.faults
            else None
        )
        self.stub = BotApiStub(TOKEN, max_poll_wait=1.0, faults=faults)
        self.views: dict[int, ChatView] = {}
        self.counts: Counter[str] = Counter()
        self.silences: list[str] = []
        self.stale: list[str] = []
        self.kill_times: list[float] = []
        self._seen_calls = 0
        self.answer_tried: dict[str, float] = {}  # callback query -> when the bot first answered it
        self.process: subprocess.Popen | None = None
        self._calls_at_start = 0  # the stub's calls before the bot started last
        self.logs: list[Path] = []
        self.rng = random.Random(f"kills:{settings.seed}")

    # -- the bot process --------------------------------------------------------------------------

    def start_bot(self) -> None:
        self._calls_at_start = len(self.stub.calls())
        log = self.workdir / f"bot-{len(self.logs)}.log"
        self.logs.append(log)
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": self.stub.base_url,
            "QUOTEBOT_DB": str(self.db),
        }
        env.pop("TELEGRAM_STAFF_CHAT_ID", None)
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "telegram"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )

    def polled(self) -> bool:
        """Whether the bot started last has called getUpdates yet (it is up and serving)."""
        return any(c.method == "getUpdates" for c in self.stub.calls_since(self._calls_at_start))

    def kill_bot(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.counts["kills"] += 1
        self.kill_times.append(time.time())

    def stop_bot(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    # -- watching the stub ------------------------------------------------------------------------

    def collect(self) -> None:
        """Fold the calls made since the last look into each chat's view."""
        calls = self.stub.calls()
        for call in calls[self._seen_calls :]:
            method = call.method.lower()
            query = call.params.get("callback_query_id")  # none: a request a kill cut before its body
            if method == "answercallbackquery" and query is not None:  # any try: the turn was committed
                self.answer_tried.setdefault(query, call.at)
            if call.error is not None or call.result is None:
                continue
            if method in ("sendmessage", "senddocument") and isinstance(call.result, dict):
                message = call.result
                chat = message["chat"]["id"]
                text = message.get("text", message.get("caption", ""))
                view = self.views.setdefault(chat, ChatView())
                buttons = _buttons(message.get("reply_markup"))
                view.delivered.append(Delivered(message["message_id"], text, buttons, call.at, call.fault))
            elif method == "answercallbackquery":
                query = call.params["callback_query_id"]
                for view in self.views.values():  # the query's chat is not in the call
                    view.answered.setdefault(query, call.params.get("text"))
            elif method in ("editmessagetext", "editmessagereplymarkup") and isinstance(call.result, dict):
                chat = call.result["chat"]["id"]
                view = self.views.setdefault(chat, ChatView())
                view.edits.append((call.at, call.result["message_id"], call.fault))
        self._seen_calls = len(calls)

    def silence(self, merchant: Merchant, step: str) -> None:
        """Nothing came: was the update confirmed and dropped, or committed and its reply lost?"""
        last = merchant.updates[-1] if merchant.updates else None
        event = f"telegram:{last}"
        if last is not None and event in self.processed_events():
            kind = "replies_lost_after_commit"
        elif last is not None and event in self.processed_events(accepted=True):
            kind = "silences_turn_not_run"  # taken in, its turn still waiting
        elif last is not None and last in self.stub.confirmed():
            kind = "updates_lost_seen"
        else:
            kind = "silences_not_fetched"
        self.counts[kind] += 1
        self.counts["silences"] += 1
        self.silences.append(f"chat {merchant.chat} at {step}: {kind}")

    def processed_events(self, *, accepted: bool = False) -> set[str]:
        """Event ids whose turn the bot committed (inbox rows done, or processed_events before
        the inbox); with `accepted`, every event it took in, handled or not yet."""
        if not self.db.exists():
            return set()
        found: set[str] = set()
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as db:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "processed_events" in tables:
                    found |= {r[0] for r in db.execute("SELECT event_id FROM processed_events")}
                if "inbox" in tables:
                    done = "" if accepted else " AND done_at IS NOT NULL"
                    sql = f"SELECT event_id FROM inbox WHERE event_id IS NOT NULL{done}"
                    found |= {r[0] for r in db.execute(sql)}
        except sqlite3.Error:
            pass  # the bot holds a write lock right now; the caller looks again later
        return found

    def saved_quotes(self) -> dict[str, dict]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as db:
            return {ref: json.loads(q) for ref, q in db.execute("SELECT ref, quote FROM quotes")}

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> Counter[str]:
        s = self.settings
        merchants = [Merchant(p, self) for p in plans(s)]
        begin = time.monotonic()
        self.start_bot()
        # Each bot is killed `kill_every` after it first polls, not after it was started: on a
        # loaded machine a start takes longer than the kill interval, and a schedule counted from
        # the start killed bot after bot before any of them polled (an outage, not a crash).
        next_kill: float | None = None
        restart_at: float | None = None
        try:
            while True:
                now = time.monotonic() - begin
                self.collect()
                for merchant in merchants:
                    if merchant.step < 0 and now >= merchant.plan.start_at:
                        merchant.begin(now)
                    merchant.check(now)
                busy = [m for m in merchants if not (m.done or m.gave_up)]
                if not busy or now > s.budget:
                    break
                if restart_at is not None and now >= restart_at:
                    self.start_bot()
                    restart_at = None
                elif restart_at is None and next_kill is None and self.polled():
                    next_kill = now + self.rng.uniform(*s.kill_every)
                elif next_kill is not None and now >= next_kill and now < s.budget - s.grace:
                    self.kill_bot()
                    restart_at = now + self.rng.uniform(*s.restart_after)
                    next_kill = None
                time.sleep(0.05)
            if restart_at is not None:
                self.start_bot()
            self._drain(begin)
        finally:
            self.stop_bot()
            self.stub.close()
        self._count(merchants, time.monotonic() - begin)
        return self.counts

    def _drain(self, begin: float) -> None:
        """Let the bot send what it still owes (a late prompt would show here), boundedly."""
        end = time.monotonic() + min(self.settings.grace, 3.0)
        while time.monotonic() < end:
            self.collect()
            time.sleep(0.1)

    def _count(self, merchants: list[Merchant], elapsed: float) -> None:
        self.collect()
        c = self.counts
        c["conversations"] = len(merchants)
        c["finished"] = sum(m.done for m in merchants)
        c["unfinished"] = len(merchants) - c["finished"]
        c["seconds"] = round(elapsed)
        c["restarts"] = len(self.logs) - 1
        pushed = self.stub.pushed()
        c["updates_pushed"] = len(pushed)
        for call in self.stub.calls():
            if call.fault:
                c[f"fault_{call.fault}"] += 1
        processed = self.processed_events(accepted=True)
        confirmed = self.stub.confirmed()
        c["updates_lost"] = sum(
            1 for update_id in pushed if update_id in confirmed and f"telegram:{update_id}" not in processed
        )
        mine = {q for m in merchants for q in _all_queries(m, self.stub)}
        c["unanswered_callbacks"] = len(mine & self.stub.open_queries())
        logs = "\n".join(p.read_text(errors="replace") for p in self.logs)
        self._count_answers(merchants)
        self._count_messages(merchants, self._logged_resends(logs))
        c["turn_exceptions"] = logs.count("turn failed") + logs.count("update failed")
        c["secret_in_logs"] = int("CHAOS-secret" in logs)

    def _logged_resends(self, logs: str) -> Counter[tuple[int, str]]:
        """Per (chat, text): how many resends after a send of unknown outcome the bot logged
        (bot/outbox.py: one WARNING per such resend, naming the row; the row's text is in the
        database). Each one may have shown that message once more."""
        lines = re.findall(
            r"outbox (\d+) to \S+: sending again after (\d+) send\(s\) of unknown outcome", logs
        )
        rows = {int(row) for row, _ in lines}
        self.counts["ambiguous_logged"] = len(lines)
        self.counts["ambiguous_logged_rows"] = len(rows)
        texts = {}
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as db:
            for row_id, destination, envelope in db.execute(
                "SELECT id, destination, envelope FROM envelopes"
            ):
                body = json.loads(envelope)["body"]
                if row_id in rows and destination.startswith("telegram:"):
                    texts[row_id] = (int(destination.partition(":")[2]), body.get("text", ""))
        logged: Counter[tuple[int, str]] = Counter()
        for row, _ in lines:
            if int(row) in texts:
                logged[texts[int(row)]] += 1
        # A logged resend the stub saw go out again (not, say, cut off by a kill before its call).
        sends = Counter(
            (c.params.get("chat_id"), c.params.get("text", c.params.get("caption", "")))
            for c in self.stub.calls()
            if c.method.lower() in ("sendmessage", "senddocument")
        )
        self.counts["ambiguous_logged_seen"] = sum(1 for row in rows if sends[texts.get(row)] >= 2)
        return logged

    def _count_answers(self, merchants: list[Merchant]) -> None:
        quotes = self.saved_quotes()
        for m in merchants:
            if not m.done:
                continue
            saved = quotes.get(m.ref or "")
            if saved is None:
                self.counts["answers_lost"] += 1
                continue
            wanted = (m.plan.revenue_yen, m.plan.industry, list(m.plan.channels))
            got = (saved["revenue_yen"], saved["industry"], saved["channels"])
            if got == wanted:
                continue
            probed = m.plan.double_tap or m.plan.stale_tap
            stale_only = got[0] == wanted[0] and (got[1] == wanted[1] or m.plan.stale_tap)
            kind = "stale_changes" if probed and stale_only else "answers_lost"
            self.counts[kind] += 1
            self.stale.append(f"chat {m.chat}: {kind}: wanted {wanted}, got {got}")

    def _count_messages(self, merchants: list[Merchant], logged: Counter[tuple[int, str]]) -> None:
        for m in merchants:
            view = m.view
            for n, message in enumerate(view.delivered):
                # Two answers to its two tries, late ones after it stopped: all fair.
                if (message.text, message.buttons) in m.fair or (m.gave_up and n >= m.first_since):
                    message.claimed = True
            for message in view.delivered:
                if ERROR_TEXT in message.text:
                    self.counts["errors_shown"] += 1
            copies: dict[tuple[str, tuple[str, ...]], list[Delivered]] = {}
            for message in view.delivered:
                copies.setdefault((message.text, message.buttons), []).append(message)
            for same in copies.values():
                extra = [x for x in same if not x.claimed]
                if len(extra) == len(same):  # none was needed (it came after the merchant was done)
                    extra = extra[1:]  # one copy is the message; the others are too many
                if len(same) < 2 or not extra:
                    continue
                # A copy too many where the bot could not know the first went out (an answer
                # after its timeout, a kill before it marked the send): fair only as often as the
                # bot logged a resend of that message; any other copy is a duplicate.
                allowed = logged[m.chat, same[0].text]
                kind = "duplicates_unknowable" if len(extra) <= allowed else "duplicates"
                self.counts[kind] += len(extra)
                faults = [x.fault for x in same]
                self.stale.append(f"chat {m.chat}: {kind} x{len(same)} {faults} {same[0].text[:40]!r}")
            for message in view.delivered:
                if (
                    message.claimed
                    or ERROR_TEXT in message.text
                    or len(copies[message.text, message.buttons]) > 1
                ):
                    continue
                steps = {b.split(".")[1] for b in message.buttons if b.startswith("quote.")}
                # A question the merchant no longer needs: sent after the bot had committed the
                # merchant's answer to it (it answers the tap in the same turn). Sent before,
                # it answered something the merchant wrote meanwhile (its second try): fair.
                answered = [
                    self.answer_tried.get(q, float("inf"))
                    for step in steps & {"industry", "channels"}
                    for q in m.answers.get(step, [])
                ]
                if answered and message.at > min(answered):
                    self.counts["late_prompts"] += 1
                    self.stale.append(f"chat {m.chat}: late prompt {message.text[:40]!r} ({message.fault})")


def _all_queries(merchant: Merchant, stub: BotApiStub) -> list[str]:
    queries = []
    for update_id in merchant.updates:
        query = stub.pending_update(update_id).get("callback_query")
        if query:
            queries.append(query["id"])
    return queries


def failures(counts: Counter[str], names: tuple[str, ...] = MUST_BE_ZERO) -> dict[str, int]:
    return {name: counts[name] for name in names if counts[name]}


def run_chaos(settings: Settings, workdir: Path | None = None) -> ChaosRun:
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="quotebot-chaos-"))
    run = ChaosRun(settings, workdir)
    run.run()
    return run


def report(run: ChaosRun) -> str:
    s = run.settings
    offered = s.conversations * MESSAGES_PER_QUOTE / max(s.ramp, 1.0)
    head = (
        f"chaos seed={s.seed} conversations={s.conversations} ramp={s.ramp:.0f}s "
        f"(at most ~{offered:.0f} messages/s asked for; Telegram allows ~30) kills={run.counts['kills']} "
        f"faults={s.fault_rate if s.faults else 0} redeliver={s.redeliver if s.faults else 0}"
    )
    counts = " ".join(f"{k}={v}" for k, v in sorted(run.counts.items()))
    lines = [head, counts]
    for title, items in (("stale, wrong or twice", run.stale), ("silences", run.silences)):
        if items:
            lines.append(f"{title} ({len(items)}):\n  " + "\n  ".join(items[:40]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--budget", type=float, help="seconds for the whole run (default: ramp + 120)")
    parser.add_argument(
        "--ramp", type=float, help="seconds over which merchants begin (default: paced, 0.6 s each)"
    )
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--no-probes", action="store_true", help="no double taps, stale taps, forged data")
    parser.add_argument("--keep", type=Path, help="keep the database and bot logs in this folder")
    args = parser.parse_args(argv)
    ramp = args.ramp if args.ramp is not None else paced_ramp(args.conversations)
    settings = Settings(
        seed=args.seed,
        conversations=args.conversations,
        budget=args.budget if args.budget is not None else ramp + 120.0,
        ramp=ramp,
        fault_rate=args.fault_rate,
        probes=not args.no_probes,
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    run = run_chaos(settings, args.keep)
    print(report(run))
    bad = failures(run.counts)
    if bad:
        print(f"FAILED: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
