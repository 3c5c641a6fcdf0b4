"""Three real `quotebot serve` processes on one PostgreSQL database are one bot (issue 14).

Hundreds of merchants ask for a quote at once through Telegram webhook updates. The test plays
Telegram and the load balancer in front of the workers (tests/support/serve_cluster.py): each
update is POSTed to a worker picked at random; one that is not answered 2xx (the worker is dead,
or was killed while answering) is POSTed again to another, as Telegram retries. On the way:

- some merchants send two updates at once (the revenue, then the industry typed straight
  after), the later one to one worker and, a few milliseconds after, the earlier one to another:
  the earlier one must still be taken first (the settle window). Where the machine is so loaded
  that the earlier one was confirmed only after the window, the bot answers the later first,
  as designed: that pair is counted (`late_pair`), its merchant carries on, and a third of the
  pairs at least must have been in time;
- some updates are POSTed to two workers at once (a duplicate): taken once;
- midway one worker is killed with SIGKILL and started again: nothing it confirmed is lost,
  nothing it had in flight is done twice, its chats carry on. The one thing that cannot be
  ruled out (Telegram has no idempotency key): a message the killed worker had sent just before
  it died but not yet marked sent is sent again by another worker; the stub records which
  worker run made each call, so such a repeat is told apart and checked to be only that.

Each merchant acts like a person: it waits for the bot's answer before its next step and taps
the buttons under the messages as they are now. At the end every chat's saved quote and the
premiums shown are the ones worked out by hand from the seeds, every chat's messages are exactly
the quote's, in order, once each, every update was handled once, and every outbox row was
delivered once (the Bot API stub's calls against the rows).

Seeded (QUOTEBOT_WORKERS_SEED): the merchants, their routes, the duplicates and the victim.
QUOTEBOT_WORKERS_LONG=1 runs 1000 merchants instead of 200 (QUOTEBOT_WORKERS_MERCHANTS: any).
A failure prints the run's figures and what happened in the first stuck chats.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from tests.rates.test_pricing import RAKUTEN_BANDS
from tests.support.botapi_stub import BotApiStub, Call
from tests.support.chaos import REVENUES
from tests.support.serve_cluster import TOKEN, ServeCluster, fresh_database

SEED = int(os.environ.get("QUOTEBOT_WORKERS_SEED", "14"))
LONG = os.environ.get("QUOTEBOT_WORKERS_LONG") == "1"
MERCHANTS = int(os.environ.get("QUOTEBOT_WORKERS_MERCHANTS", 1000 if LONG else 200))
# Seconds over which the merchants begin: the short run is a burst the workers catch up with; the
# long one begins 5 quotes a second for over three minutes (three workers on a loaded 2-core
# machine handled about 18 updates a second: a merchant may wait minutes for an answer there).
RAMP = 200.0 if LONG else 8.0
WORKERS = 3
FIRST_CHAT = 914_000
# Seconds a merchant waits for an answer before it counts as stuck: not a latency target (no
# timed assertions), only a bound; a 2-core machine running five teams' suites at once has made
# a merchant of the short run wait over a minute.
PATIENCE = 300.0 if LONG else 150.0
BUDGET = 1200.0 if LONG else 400.0  # the whole run: then it stops and the checks say what is missing
DUPLICATE_SHARE = 0.15  # updates POSTed to two workers at once
PAIR_SHARE = 0.35  # merchants who type the industry right after the revenue
SETTLE_MS = 300  # the bot's default settle window (bot/settings.py), set explicitly for the workers
# Telegram's pace (30 messages a second for the whole bot, bot/channels/telegram_sender.py) would
# make 200 quotes (about 1,600 messages) take 55 s at the least: off here, as in the benchmarks
# (this test is about several workers being one bot). QUOTEBOT_WORKERS_LIMITS=on runs with it
# (then each merchant waits its turn behind the others: 200 pass; 1000 need more patience).
LIMITS = os.environ.get("QUOTEBOT_WORKERS_LIMITS", "off")

# Seed 002 (損保ジャパン 中小企業向け): the monthly reference premium at 5億円 for each industry,
# shown whatever the revenue (tests/rates/test_pricing.py::test_pricing_sme_reference_is_the_figure_at_500m).
SME_REFERENCE = {"manufacturing": 5_860, "retail": 8_140, "wholesale": 5_430}
# What a merchant types for its industry (dialogs/industries.toml).
INDUSTRY_WORDS = {"manufacturing": "製造", "retail": "小売", "wholesale": "卸"}
OTHER_CHANNELS = ("own_ec", "other_mall", "physical_store", "events", "b2b")
CHANNEL_ORDER = ("rakuten", *OTHER_CHANNELS)
# The quote's messages (templates/ja/...): the menu, the three questions, the result, what next.
MENU_BUTTON = "menu.start.quote"
REVENUE_PROMPT = "1/3 年間売上高"
NOT_A_REVENUE = "が金額として読み取れませんでした"  # templates/ja/common/amount_error.j2
INDUSTRY_PROMPT = "2/3 業種"
CHANNELS_PROMPT = "3/3 販売チャネル"
RESULT = "お見積り Q-"
NEXT = "次はどうしますか"


def rakuten_premiums(revenue: int) -> tuple[int, int]:
    """Seed 000's monthly (mini, standard) for a revenue: the band whose upper edge is the first
    at or above it, from the hand-written band edges in tests/rates/test_pricing.py."""
    edges = sorted({r: (mini, std) for r, mini, std in RAKUTEN_BANDS}.items())
    return next(premiums for edge, premiums in edges if edge >= revenue)


@dataclass(frozen=True)
class Plan:
    chat: int
    revenue_text: str
    industry: str
    channels: tuple[str, ...]
    typed_pair: bool  # revenue and typed industry sent at once, the later one first
    start_at: float

    @property
    def revenue(self) -> int:
        return REVENUES[self.revenue_text]

    @property
    def steps(self) -> list[str]:
        middle = ["pair"] if self.typed_pair else ["revenue", "industry"]
        return ["start", "quote", *middle, *(f"tick:{c}" for c in self.channels), "done"]


def plans(seed: int, count: int) -> list[Plan]:
    rng = random.Random(f"plans:{seed}")
    made = []
    for n in range(count):
        extra = rng.sample(OTHER_CHANNELS, rng.randint(0, 2))
        made.append(
            Plan(
                chat=FIRST_CHAT + n,
                revenue_text=rng.choice(sorted(REVENUES)),
                industry=rng.choice(sorted(SME_REFERENCE)),
                channels=tuple(sorted(("rakuten", *extra), key=CHANNEL_ORDER.index)),
                typed_pair=rng.random() < PAIR_SHARE,
                start_at=rng.uniform(0, RAMP),
            )
        )
    return made


@dataclass(frozen=True)
class Post:
    update_id: int
    worker: int
    status: int  # 0: no answer
    sent: float  # time.monotonic()
    answered: float  # time.monotonic()
    answered_wall: float  # time.time(): the database's clock runs on the same host


class Telegram:
    """Telegram and the load balancer: POSTs each update to a worker picked at random, again to
    another after anything but a 2xx, until one answers 2xx (bounded by the run's budget)."""

    def __init__(self, cluster: ServeCluster, seed: int, deadline: float):
        self.cluster, self.deadline = cluster, deadline
        self.rng = random.Random(f"routes:{seed}")
        self.pool = ThreadPoolExecutor(max_workers=48, thread_name_prefix="telegram")
        self.lock = threading.Lock()
        self.posts: list[Post] = []
        self.confirmed: set[int] = set()
        self.counts: Counter[str] = Counter()

    def pick(self, avoid: int | None = None) -> int:
        with self.lock:
            choices = [n for n in range(len(self.cluster)) if n != avoid]
            return self.rng.choice(choices)

    def send(self, update: dict, worker: int | None = None, *, delay: float = 0.0) -> None:
        """Deliver in the background, starting at `worker` (or a random one)."""
        first = self.pick() if worker is None else worker
        self.pool.submit(self._deliver, update, first, delay)

    def send_twice(self, update: dict) -> None:
        """The same update to two workers at once (Telegram's retry crossing its first try)."""
        first = self.pick()
        self.send(update, first)
        self.send(update, self.pick(avoid=first))
        self.counts["duplicates_posted"] += 1

    def _deliver(self, update: dict, worker: int, delay: float) -> None:
        if delay:
            time.sleep(delay)
        while True:
            started = time.monotonic()
            status = self.cluster.post(worker, update)
            with self.lock:
                self.posts.append(
                    Post(update["update_id"], worker, status, started, time.monotonic(), time.time())
                )
                if 200 <= status < 300:
                    self.confirmed.add(update["update_id"])
                    return
                self.counts[f"post_{status}"] += 1
            if time.monotonic() > self.deadline:
                return
            time.sleep(0.2)
            worker = self.pick(avoid=worker)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


@dataclass
class Merchant:
    plan: Plan
    step: int = -1
    deadline: float = 0.0
    queries: list[str] = field(default_factory=list)  # callback query ids of the step's taps
    updates: list[int] = field(default_factory=list)  # every update it made, in order
    taps: dict[str, int] = field(default_factory=dict)  # callback query id -> update_id
    stuck: str | None = None
    channels_message: int | None = None
    pair: tuple[int, int] | None = None  # (earlier, later) update ids sent at once
    # The pair's earlier update reached the bot after the settle window (the machine was too
    # slow for the premise): the industry was taken as a revenue, and the merchant taps it.
    late_pair: bool = False
    # The industry question went unseen: the killed worker noted its send and died, and the
    # pair's industry, answered meanwhile, made it a prompt for a question already left, which
    # the bot drops instead of sending late (issue 13). The merchant goes on from the channels.
    prompt_dropped: bool = False
    steps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.steps = list(self.plan.steps)

    @property
    def offset(self) -> int:
        """Messages before the channels question beyond the usual four (the late pair's reprompt,
        less a dropped prompt)."""
        return int(self.late_pair) - int(self.prompt_dropped)

    @property
    def done(self) -> bool:
        return self.step >= len(self.steps)

    @property
    def name(self) -> str:
        return self.steps[self.step]


class Run:
    def __init__(self, cluster: ServeCluster, stub: BotApiStub, seed: int):
        self.cluster, self.stub, self.seed = cluster, stub, seed
        self.begin = time.monotonic()
        self.telegram = Telegram(cluster, seed, self.begin + BUDGET)
        self.rng = random.Random(f"run:{seed}")
        self.merchants = [Merchant(p) for p in plans(seed, MERCHANTS)]
        self.victim = random.Random(f"victim:{seed}").randrange(WORKERS)
        self.killed_at: float | None = None
        self.killed_wall: float | None = None  # the same moment by the stub's clock (Call.at)
        self.restarter: threading.Thread | None = None
        self.query_chat: dict[str, int] = {}  # callback query id -> chat
        self.calls: dict[int, list[Call]] = {}  # per chat: its Bot API calls, repeats left out
        self.repeats: dict[int, list[Call]] = {}  # per chat: calls that repeated the killed run's
        self.sent: dict[int, list[dict]] = {}  # per chat: the messages it got, repeats left out
        self.open: set[str] = set()
        self.torn: list[Call] = []
        self._seen = 0

    # -- acting -------------------------------------------------------------------------------

    def post(self, update_id: int, merchant: Merchant, **route) -> None:
        merchant.updates.append(update_id)
        update = self.stub.pending_update(update_id)
        if self.rng.random() < DUPLICATE_SHARE and not route:
            self.telegram.send_twice(update)
        else:
            self.telegram.send(update, **route)

    def tap(self, merchant: Merchant, message_id: int, prefix: str) -> None:
        chat = merchant.plan.chat
        update_id = self.stub.push_callback(chat, message_id, self.stub.button(chat, message_id, prefix))
        query = self.stub.pending_update(update_id)["callback_query"]["id"]
        merchant.queries.append(query)
        merchant.taps[query] = update_id
        self.query_chat[query] = chat
        self.post(update_id, merchant)

    def act(self, m: Merchant, now: float) -> None:
        try:
            self._act(m, now)
        except (AssertionError, IndexError, KeyError):  # the button it needs is not there
            texts = " | ".join(s["text"][:30] for s in self.sent.get(m.plan.chat, []))
            m.stuck = f"chat {m.plan.chat} at {m.name}: no button: {texts}"

    def _act(self, m: Merchant, now: float) -> None:
        chat, plan, name = m.plan.chat, m.plan, m.name
        m.queries, m.deadline = [], now + PATIENCE
        sent = self.sent.get(chat, [])
        if name == "start":
            self.post(self.stub.push_message(chat, "/start"), m)
        elif name == "quote":
            self.tap(m, sent[0]["message_id"], MENU_BUTTON)
        elif name == "revenue":
            self.post(self.stub.push_message(chat, plan.revenue_text), m)
        elif name == "industry":
            self.tap(m, sent[2 + m.offset]["message_id"], f"quote.industry.{plan.industry}")
        elif name == "pair":
            # Two updates at once: the later one (the typed industry) to one worker first, the
            # earlier one (the revenue) to another worker a few milliseconds later.
            earlier = self.stub.push_message(chat, plan.revenue_text)
            later = self.stub.push_message(chat, INDUSTRY_WORDS[plan.industry])
            first = self.telegram.pick()
            self.post(later, m, worker=first)
            self.post(earlier, m, worker=self.telegram.pick(avoid=first), delay=self.rng.uniform(0.005, 0.05))
            m.updates.sort()
            m.pair = (earlier, later)
            self.telegram.counts["pairs_posted"] += 1
        elif name.startswith("tick:"):
            self.tap(m, m.channels_message, f"quote.channels.{name.partition(':')[2]}")
        elif name == "done":
            self.tap(m, m.channels_message, "quote.channels.done")

    # -- watching -----------------------------------------------------------------------------

    def answered(self, m: Merchant) -> bool:
        return not any(q in self.open for q in m.queries)

    def expected(self, m: Merchant) -> bool:
        sent, name = self.sent.get(m.plan.chat, []), m.name
        if name == "start":
            return len(sent) >= 1
        if name == "quote":
            return len(sent) >= 2 and self.answered(m)
        if name == "revenue":
            return len(sent) >= 3
        if name in ("industry", "pair"):
            pair_only = name == "pair" and len(sent) == 3 and CHANNELS_PROMPT in sent[2]["text"]
            if pair_only and self.dropped(m.plan.chat, INDUSTRY_PROMPT):
                m.prompt_dropped = True
            if len(sent) < 4 + m.offset or not self.answered(m):
                return False
            if CHANNELS_PROMPT in sent[3 + m.offset]["text"]:
                m.channels_message = sent[3 + m.offset]["message_id"]
                return True
            if name == "pair" and NOT_A_REVENUE in sent[2]["text"] and INDUSTRY_PROMPT in sent[3]["text"]:
                # The later update went first. Only a bug if the earlier one was taken in time.
                in_time = self.pair_in_time(m)
                if in_time is None:
                    return False  # the earlier update is not confirmed yet
                if not in_time:
                    m.late_pair = True
                    m.steps.insert(m.step + 1, "industry")
                    return True
            m.stuck = f"chat {m.plan.chat} at {name}: " + " | ".join(s["text"][:30] for s in sent)
            return False
        if name.startswith("tick:"):
            if not self.answered(m):
                return False
            markup = self.stub.message(m.plan.chat, m.channels_message).get("reply_markup") or {}
            labels = {b["callback_data"]: b["text"] for row in markup["inline_keyboard"] for b in row}
            channel = f"quote.channels.{name.partition(':')[2]}."
            return any(d.startswith(channel) and t.startswith("✅") for d, t in labels.items())
        return len(sent) >= 6 + m.offset and self.answered(m)  # done: the result and what next

    def dropped(self, chat: int, prompt: str) -> bool:
        """Whether the bot dropped this chat's unsent message asking `prompt` (superseded)."""
        rows = self.cluster.query(
            "SELECT envelope FROM envelopes WHERE destination = $1 AND last_error = 'superseded'",
            f"telegram:{chat}",
        )
        return any(prompt in r["envelope"]["body"]["text"] for r in rows)

    def pair_in_time(self, m: Merchant) -> bool | None:
        """Whether the pair's earlier update was confirmed (so committed) within the settle window
        after the later one arrived, when the bot must take it first; None: not confirmed yet."""
        earlier, later = m.pair
        answers = [p.answered_wall for p in self.telegram.posts if p.update_id == earlier and p.status == 200]
        if not answers:
            return None
        (row,) = self.cluster.query(
            "SELECT extract(epoch FROM arrived_at)::float8 AS at FROM inbox WHERE event_id = $1",
            f"telegram:{later}",
        )
        return min(answers) < row["at"] + SETTLE_MS / 1000

    def look(self) -> None:
        """Fold the stub's new calls into each chat's view. A call identical to the chat's
        previous one, which the killed run made before it was killed, is a repeat: the platform
        took the first, the worker died before it could mark the row sent, and another worker
        sent the row again (Telegram has no idempotency key: the one case that cannot be ruled
        out). Repeats are kept apart, and checked to be nothing else."""
        calls = self.stub.calls_since(self._seen)
        for call in calls:
            if call.method in ("sendMessage", "editMessageText"):
                chat = call.params.get("chat_id")
            elif call.method == "answerCallbackQuery":
                chat = self.query_chat.get(call.params.get("callback_query_id"))
            else:
                continue
            if chat is None:  # a request cut off by the kill: Telegram refused it (checked below)
                self.torn.append(call)
                continue
            kept = self.calls.setdefault(chat, [])
            if kept and self.repeats_killed_run(kept[-1], call):
                self.repeats.setdefault(chat, []).append(call)
                continue
            kept.append(call)
            if call.method == "sendMessage" and call.error is None:
                self.sent.setdefault(chat, []).append(call.result)
        self._seen += len(calls)
        self.open = self.stub.open_queries()

    def repeats_killed_run(self, before: Call, call: Call) -> bool:
        """`call` sends again what the killed run sent last to that chat. (Not "before the kill"
        by the stub's clock: a request already on its way when the process died may be read by
        the stub a moment after the test noted the kill.)"""
        killed_run = f"w{self.victim}.1"
        return (
            self.killed_wall is not None
            and before.via == killed_run
            and call.via != killed_run
            and (before.method, before.params) == (call.method, call.params)
        )

    def progress(self) -> float:
        steps = sum(len(m.plan.steps) for m in self.merchants)
        return sum(max(m.step, 0) for m in self.merchants) / steps

    def kill_and_restart(self) -> None:
        """Midway: kill -9 one worker; start it again a moment later (in the background)."""
        self.cluster.kill(self.victim)
        self.killed_at, self.killed_wall = time.monotonic(), time.time()

        def restart() -> None:
            time.sleep(1.0)
            self.cluster.restart(self.victim)

        self.restarter = threading.Thread(target=restart, name="restart")
        self.restarter.start()

    def run(self) -> None:
        try:
            while True:
                now = time.monotonic() - self.begin
                self.look()
                for m in self.merchants:
                    if m.done or m.stuck:
                        continue
                    if m.step < 0:
                        if now >= m.plan.start_at:
                            m.step = 0
                            self.act(m, now)
                    elif self.expected(m):
                        m.step += 1
                        if not m.done:
                            self.act(m, now)
                    elif now > m.deadline:
                        m.stuck = f"chat {m.plan.chat} waited {PATIENCE:.0f} s at {m.name}"
                if self.killed_at is None and self.progress() >= 0.4:
                    self.kill_and_restart()
                if all(m.done or m.stuck for m in self.merchants) or now > BUDGET:
                    break
                time.sleep(0.05)  # a person reacts in no less
        finally:
            if self.restarter is not None:
                self.restarter.join()
            self.telegram.close()


def outbox_settled(cluster: ServeCluster, timeout: float = 45.0) -> int:
    """Rows not yet sent, once none is left or after `timeout` seconds (a killed worker's
    destinations wait for its lease to run out)."""
    deadline = time.monotonic() + timeout
    while True:
        (row,) = cluster.query("SELECT count(*) AS n FROM envelopes WHERE sent_at IS NULL")
        if row["n"] == 0 or time.monotonic() > deadline:
            return row["n"]
        time.sleep(0.25)


def figures(text: str) -> tuple[int | None, int | None, int | None]:
    """(mini, standard, SME reference) monthly premiums shown in a result message."""

    def grab(pattern: str) -> int | None:
        found = re.findall(pattern, text)
        assert len(found) <= 1, (pattern, text)
        return int(found[0].replace(",", "")) if found else None

    return (
        grab(r"ミニコース: 月額 <b>([\d,]+)円</b>"),
        grab(r"標準コース: 月額 <b>([\d,]+)円</b>"),
        grab(r"参考保険料が月額 ([\d,]+)円"),
    )


@pytest.fixture
def cluster(tmp_path):
    with (
        fresh_database() as url,
        BotApiStub(TOKEN, webhook_delivery=False) as stub,
        ServeCluster(
            stub,
            url,
            tmp_path / "workers",
            workers=WORKERS,
            QUOTEBOT_SETTLE_MS=str(SETTLE_MS),
            TELEGRAM_RATE_LIMITS=LIMITS,
        ) as cluster,
    ):
        yield cluster


def test_three_serve_workers_one_killed_are_one_bot(cluster):
    stub = cluster.stub
    run = Run(cluster, stub, SEED)
    run.run()
    unsent = outbox_settled(cluster)
    assert cluster.alive() == list(range(WORKERS))
    exits = cluster.stop()
    run.look()
    gaps = pair_gaps(cluster, run)
    (work,) = cluster.query(
        "SELECT xact_commit + xact_rollback AS transactions, tup_inserted, tup_updated"
        " FROM pg_stat_database WHERE datname = current_database()"
    )
    report = describe(run, unsent, exits, gaps) + f" database={work}"
    print(report)
    for m in [m for m in run.merchants if m.stuck][:4]:
        print(forensics(cluster, run, m))

    # Every merchant finished; nothing was left to send; the workers stopped cleanly.
    assert [m.stuck for m in run.merchants if m.stuck] == [], report
    assert unsent == 0, report
    assert exits == [0] * WORKERS, report
    assert run.killed_at is not None and cluster[run.victim].starts == 2

    # Every update was confirmed (2xx) and handled exactly once, without an error.
    made = {u for m in run.merchants for u in m.updates}
    assert run.telegram.confirmed == made
    inbox = cluster.query("SELECT event_id, done_at, error FROM inbox")
    assert Counter(r["event_id"] for r in inbox) == Counter(f"telegram:{u}" for u in made)
    assert [r for r in inbox if r["done_at"] is None or r["error"] is not None] == []
    # Updates the victim answered 2xx before it was killed were kept (they are in the inbox,
    # handled); the ones it did not answer were posted again elsewhere (confirmed, above).
    victims = {
        p.update_id
        for p in run.telegram.posts
        if p.worker == run.victim and p.status == 200 and p.answered < run.killed_at
    }
    assert victims and victims <= {int(r["event_id"].split(":")[1]) for r in inbox}
    # Each pair whose earlier update was taken within the settle window after the later one
    # was answered in update_id order (the chat's checks below, and `Run.expected`); on a
    # machine so loaded that the earlier one came later than that, the bot answered the later
    # first, as designed (`late_pair`). Enough pairs must have been in time to prove anything.
    in_time = [m for m in run.merchants if m.pair is not None and not m.late_pair]
    assert len(in_time) >= len(gaps) // 3, report

    # Every outbox row was delivered once: per chat, one successful call per row. A repeat of
    # what the killed run sent just before it died is the one exception (see `Run.look`); it
    # is only ever that, at most once per chat (a destination is sent by one worker at a time).
    rows = cluster.query("SELECT destination, sent_at, last_error FROM envelopes")
    assert [r for r in rows if r["sent_at"] is None] == []
    per_chat = Counter(r["destination"] for r in rows)
    # A row the bot dropped as superseded (a keyboard edit or a prompt for a question already
    # left, issue 13) was sent once if it was already on its way, else not at all.
    superseded = Counter(r["destination"] for r in rows if r["last_error"] == "superseded")
    calls = {f"telegram:{chat}": len(kept) for chat, kept in run.calls.items()}
    differ = {
        d
        for d in set(calls) | set(per_chat)
        if not per_chat[d] - superseded[d] <= calls.get(d, 0) <= per_chat[d]
    }
    assert not differ, [
        (d, [(c.method, c.via, round(c.at - run.killed_wall, 3), c.error) for c in run.calls[int(d[9:])]])
        for d in sorted(differ)[:3]
    ]
    assert [c for kept in run.calls.values() for c in kept if c.error] == []
    assert all(len(r) == 1 for r in run.repeats.values()), run.repeats
    # A request cut off by the kill (its body half sent) was refused by the platform.
    assert all(c.error is not None and c.via == f"w{run.victim}.1" for c in run.torn), run.torn

    quotes = {r["conversation"]: r for r in cluster.query("SELECT ref, conversation, quote FROM quotes")}
    assert len(quotes) == MERCHANTS
    for m in run.merchants:
        check_chat(m, run, quotes[f"telegram:{m.plan.chat}"])


def check_chat(m: Merchant, run: Run, saved: dict) -> None:
    """One chat: the quote saved and shown is the plan's, at the seeds' figures; its messages are
    the quote's and nothing else, in order; each tap was answered once, in update_id order (each
    answer is sent by its own turn); each tick edited the keyboard once."""
    plan, chat = m.plan, m.plan.chat
    quote = saved["quote"]
    assert (quote["revenue_yen"], quote["industry"], quote["channels"]) == (
        plan.revenue,
        plan.industry,
        list(plan.channels),
    ), chat
    mini, standard = rakuten_premiums(plan.revenue)
    shown = {(o["product"], o["plan"]): o["monthly_premium_yen"] for o in quote["offers"]}
    assert shown == {
        ("rakuten_group", "mini"): mini,
        ("rakuten_group", "standard"): standard,
        ("sme_cyber", "reference"): SME_REFERENCE[plan.industry],
    }, chat

    texts = [s["text"] for s in run.sent[chat]]
    if m.late_pair:  # the typed industry, taken first, was not an amount: said so, once
        assert NOT_A_REVENUE in texts.pop(2), (chat, texts)
    # The industry question, unless it was dropped (asked of an industry already given).
    industry = None if m.prompt_dropped else texts.pop(2)
    assert len(texts) == 5, (chat, texts)
    assert MENU_BUTTON in str(run.sent[chat][0]["reply_markup"]), chat
    assert texts[1].startswith(f"<b>{REVENUE_PROMPT}</b>"), (chat, texts[1])
    if industry is not None:
        assert f"<b>{plan.revenue:,}円</b>" in industry and INDUSTRY_PROMPT in industry, (chat, industry)
    assert CHANNELS_PROMPT in texts[2], (chat, texts[2])
    assert texts[3].startswith(f"<b>{RESULT}{saved['ref'][2:]}"), (chat, texts[3])
    assert figures(texts[3]) == (mini, standard, SME_REFERENCE[plan.industry]), (chat, texts[3])
    assert NEXT in texts[4], chat

    kept = run.calls[chat]
    answers = [m.taps[c.params["callback_query_id"]] for c in kept if c.method == "answerCallbackQuery"]
    assert answers == sorted(m.taps.values()), chat
    edits = [c for c in kept if c.method == "editMessageText"]
    assert len(edits) == len(plan.channels), chat  # one per tick, no stale-keyboard repaint


def pair_gaps(cluster: ServeCluster, run: Run) -> list[float]:
    """For each pair: seconds by which the earlier update reached the database after the later."""
    arrived = {
        r["event_id"]: r["arrived_at"] for r in cluster.query("SELECT event_id, arrived_at FROM inbox")
    }
    gaps = []
    for m in run.merchants:
        if m.pair is not None:
            earlier, later = (arrived.get(f"telegram:{u}") for u in m.pair)
            if earlier is not None and later is not None:
                gaps.append((earlier - later).total_seconds())
    return gaps


def describe(run: Run, unsent: int, exits: list, gaps: list[float]) -> str:
    t = run.telegram
    stuck = [m.stuck for m in run.merchants if m.stuck]
    late = sorted(gaps)[-3:]
    return (
        f"workers seed={run.seed} merchants={len(run.merchants)} victim={run.victim} "
        f"killed_at={None if run.killed_at is None else round(run.killed_at - run.begin, 1)}s "
        f"seconds={round(time.monotonic() - run.begin)} "
        f"updates={len({u for m in run.merchants for u in m.updates})} "
        f"posts={len(t.posts)} {dict(sorted(t.counts.items()))} unsent={unsent} exits={exits} "
        f"repeats={sum(len(r) for r in run.repeats.values())} "
        f"pairs={len(gaps)} earlier_arrived_last={sum(g > 0 for g in gaps)} "
        f"past_the_window={sum(m.late_pair for m in run.merchants)} latest={[round(g, 3) for g in late]} "
        f"stuck={len(stuck)} {stuck[:10]}"
    )


def forensics(cluster: ServeCluster, run: Run, m: Merchant) -> str:
    """What happened in one chat, for a failure's report: its updates, rows and the stub's calls."""
    chat, t0 = m.plan.chat, run.begin
    key = f"telegram:{chat}"
    lines = [f"--- chat {chat}: {m.stuck}"]
    for p in sorted(run.telegram.posts, key=lambda p: (p.update_id, p.sent)):
        if p.update_id in m.updates:
            when = f"sent {p.sent - t0:.3f} answered {p.answered - t0:.3f}"
            lines.append(f"  post {p.update_id} -> w{p.worker} {p.status} {when}")
    for r in cluster.query(
        "SELECT event_id, ord, arrived_at, done_at, error FROM inbox"
        " WHERE conversation = $1 OR event_id = ANY($2)",
        key,
        [f"telegram:{u}" for u in m.updates],
    ):
        lines.append(f"  inbox {r}")
    for r in cluster.query(
        "SELECT id, kind, envelope->'body'->>'text' AS text, created_at, sent_at, attempts FROM envelopes"
        " WHERE destination = $1 ORDER BY id",
        key,
    ):
        lines.append(
            f"  envelope {r['id']} {r['kind']} {str(r['text'])[:30]!r} {r['created_at']} {r['sent_at']}"
        )
    queries = set(m.taps)
    for c in cluster.stub.calls():
        if c.params.get("chat_id") == chat or c.params.get("callback_query_id") in queries:
            lines.append(f"  call {c.method} at {c.at:.3f} {str(c.params.get('text', ''))[:30]!r} {c.error}")
    return "\n".join(lines)
