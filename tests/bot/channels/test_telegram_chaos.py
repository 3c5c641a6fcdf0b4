"""Chaos (issue 13): the real `quotebot telegram` process killed with SIGKILL every few seconds
while 30 merchants ask for quotes at once, the Bot API stub failing a fifth of the sends with 429,
502, hangs and late successes and redelivering getUpdates batches. See tests/support/chaos.py.

One run serves every test here (at most about 55 s; usually 35-45 s). Seed, kills and every
count are printed (pytest -s, or in a failure). QUOTEBOT_CHAOS_LONG=1 makes it 300 merchants
over a few minutes; QUOTEBOT_CHAOS_SEED picks another seed.
"""

import os

import pytest

from tests.support.chaos import Settings, failures, paced_ramp, report, run_chaos

LONG = os.environ.get("QUOTEBOT_CHAOS_LONG", "") not in ("", "0")
SEED = int(os.environ.get("QUOTEBOT_CHAOS_SEED", "13"))
# Kills for the first 30 s (budget - grace), as before; then 20 s to finish: the last merchants
# start at 8 s and take about 30 s through the kills, and one that meets a stale keyboard (a copy
# that was on its way when it ticked) taps again and needs longer.
SHORT = Settings(seed=SEED, conversations=30, ramp=8.0, budget=50.0, grace=20.0, kill_every=(2.0, 5.0))
# The long run: merchants begin no faster than a bot kept to Telegram's 30 a second can answer
# them (tests/support/chaos.PACE): 180 s for 300.
FULL = Settings(
    seed=SEED,
    conversations=300,
    ramp=paced_ramp(300),
    budget=paced_ramp(300) + 120.0,
    kill_every=(2.0, 6.0),
    grace=15.0,
)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    run = run_chaos(FULL if LONG else SHORT, tmp_path_factory.mktemp("chaos"))
    print("\n" + report(run))
    return run


def check(run, *names):
    bad = failures(run.counts, names)
    assert not bad, f"{bad}\n{report(run)}"


def test_chaos_run_really_was_chaotic(chaos):
    """Kills happened and every kind of fault was injected: otherwise the rest proves nothing."""
    counts = chaos.counts
    assert counts["kills"] >= 3, report(chaos)
    for kind in ("429", "5xx", "hang", "late"):
        assert counts[f"fault_{kind}"] >= 1, report(chaos)
    assert counts["updates_pushed"] >= 6 * counts["conversations"], report(chaos)


def test_chaos_every_finished_quote_is_the_one_asked_for(chaos):
    """No answer a merchant gave is lost or replaced: the saved quote has their revenue,
    industry and channels (a stale tap that changed one is counted apart, below)."""
    check(chaos, "answers_lost")
    assert chaos.counts["finished"] >= 1, report(chaos)


def test_chaos_nothing_sent_twice_beyond_the_unknowable(chaos):
    """A message is delivered twice only where the first send's outcome was unknown (an answer
    that came after the client's timeout, or a kill between the send and its mark), and then
    only as often as the bot logged a resend of it (one WARNING per resend, naming the row)."""
    check(chaos, "duplicates")
    assert chaos.counts["duplicates_unknowable"] <= chaos.counts["ambiguous_logged"], report(chaos)


def test_chaos_secrets_never_logged(chaos):
    check(chaos, "secret_in_logs")


# Strict again: the silences under load came from the kill schedule (bots killed before they had
# polled once, while a start took longer than the kill interval), not from the bot; kills now
# count from a bot's first poll. On this 2-core machine it holds to a load average of ~5; at 9-10
# the run's wall-clock budget runs out before every merchant has finished.
def test_chaos_nothing_lost_nothing_silent(chaos):
    """Every update committed before it is confirmed; every committed reply delivered; every
    tap answered; every merchant finishes."""
    check(
        chaos,
        "updates_lost",
        "replies_lost_after_commit",
        "silences",
        "unanswered_callbacks",
        "unfinished",
    )


def test_chaos_nothing_stale_no_exceptions(chaos):
    """Double taps and old keyboards change nothing; forged data gets the reprompt, no error;
    no prompt arrives for a step already left."""
    check(chaos, "stale_changes", "late_prompts", "errors_shown", "turn_exceptions")
