"""What `/metrics` shows, in the Prometheus text format (prometheus-client).

Counters and the turn histogram are counted where things happen (the channels, the engine,
the outbox worker) through the functions below, which also write the event's log line, so a
figure on a graph and a line in the logs always tell the same story. Figures that live in the
store (outbox depth and oldest age, reminders due, tickets open) are read from it at each
scrape, so every worker process reports the same truth.

One registry per process (`REGISTRY`), not prometheus-client's global one: a test can read
figures without other libraries' collectors in the way.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from bot import logs

REGISTRY = CollectorRegistry(auto_describe=True)
# The classic text format every Prometheus version reads (our names are plain ASCII).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

UPDATES = Counter(
    "quotebot_updates_received",
    "Platform updates received, by channel and what became of them (accepted, duplicate, ignored...)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
TURNS = Counter(
    "quotebot_turns",
    "Dialog turns run, by channel and outcome (ok, error)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "quotebot_turn_seconds",
    "Time one turn took, from its start to its commit",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
REPLIES_SENT = Counter(
    "quotebot_replies_sent",
    "Messages the platform accepted, by channel and kind (reply, alert, relay, reminder...)",
    ["channel", "kind"],
    registry=REGISTRY,
)
REPLIES_REFUSED = Counter(
    "quotebot_replies_refused",
    "Messages the platform refused, by channel and error (retry: sent again later; gave_up: kept unsent)",
    ["channel", "error"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("quotebot_outbox_depth", "Messages in the outbox not sent yet", registry=REGISTRY)
OUTBOX_FAILING = Gauge(
    "quotebot_outbox_failing",
    "Unsent messages that failed many times in a row (see bot/ops.py)",
    registry=REGISTRY,
)
INBOX_PENDING = Gauge(
    "quotebot_inbox_pending", "Accepted updates whose turn has not run yet", registry=REGISTRY
)
OUTBOX_OLDEST = Gauge(
    "quotebot_outbox_oldest_due_seconds",
    "Age of the oldest unsent message that is due (0 when none is due)",
    registry=REGISTRY,
)
REMINDERS_DUE = Gauge(
    "quotebot_reminders_due", "Reminders whose time has come and that are not sent yet", registry=REGISTRY
)
TICKETS_OPEN = Gauge("quotebot_tickets_open", "Hand-off tickets open (a person is on it)", registry=REGISTRY)
_STORE_GAUGES = {
    "outbox_depth": OUTBOX_DEPTH,
    "outbox_oldest_due_seconds": OUTBOX_OLDEST,
    "outbox_failing": OUTBOX_FAILING,
    "inbox_pending": INBOX_PENDING,
    "reminders_due": REMINDERS_DUE,
    "tickets_open": TICKETS_OPEN,
}


def received(channel: str, conversation: object | None, outcome: str, **fields) -> None:
    """An update came in from a platform (accepted into the inbox, a duplicate, ignored...)."""
    UPDATES.labels(channel, outcome).inc()
    logs.event("received", channel, conversation, outcome, **fields)


def turn(channel: str, conversation: object, step: str | None, outcome: str, seconds: float) -> None:
    """A turn ran (`outcome` ok or error); `step` is where the conversation is now."""
    TURNS.labels(channel, outcome).inc()
    TURN_SECONDS.labels(channel).observe(seconds)
    logs.event("turn", channel, conversation, outcome, step=step, ms=round(seconds * 1000, 1))


def sent(channel: str, destination: object, kind: str) -> None:
    """The platform answered a send with success: only now does a message count as sent."""
    REPLIES_SENT.labels(channel, kind).inc()
    logs.event("sent", channel, destination, "ok", kind=kind)


def refused(channel: str, destination: object, kind: str, error: str, *, retry: bool) -> None:
    """The platform refused a send; `error` is a short code (Forbidden, RetryAfter, TimedOut...)."""
    REPLIES_REFUSED.labels(channel, error).inc()
    logs.event("sent", channel, destination, "retry" if retry else "gave_up", kind=kind, error=error)


def set_store_figures(figures: Mapping[str, float]) -> None:
    """The figures read from the store at a scrape (see Store's `ops_figures`)."""
    for name, gauge in _STORE_GAUGES.items():
        gauge.set(figures.get(name, 0))


def render() -> bytes:
    return generate_latest(REGISTRY)


def value(name: str, **labels: str) -> float:
    """One sample's current value (0 when never counted): for tests and the health check."""
    found = REGISTRY.get_sample_value(name, labels)
    return found or 0.0
