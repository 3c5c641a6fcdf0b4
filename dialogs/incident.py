"""The incident dialog: first aid at once, a short triage, then duties, dates and a checklist.

```mermaid
flowchart LR
  opened["opened: 24h numbers, record, staff alerted"] --> kind --> discovered
  discovered -->|"a yearless date read as last year's"| discovered_year --> data
  discovered --> data
  data --> people --> encrypted --> contractor --> insurance
  insurance --> assessed["assessed: PPC duty, dates, steps, checklist, document"] --> next
```
Everything it works out comes from the pure rules in incident_rules / incident_dates /
incident_steps; this module only turns answers into `IncidentFacts` and results into messages.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, time, timedelta

from dialogs.incident_dates import checklist, deadlines, reminder_times
from dialogs.incident_rules import (
    CONTRACTOR,
    DATA,
    INSURANCE,
    JST,
    KINDS,
    PEOPLE,
    TRISTATE,
    IncidentFacts,
    filing_steps,
    mynumber_determination,
    ppc_determination,
    report_items,
)
from dialogs.incident_steps import first_aid_steps, insurer_requirements, type_steps
from dialogs.steps import (
    Button,
    Choose,
    Command,
    Compute,
    Computed,
    Context,
    Dialog,
    Effect,
    Goto,
    Invalid,
    Menu,
    MultiChoose,
    Say,
    Slots,
)
from dialogs.when import read
from dialogs.words import TRIGGER_WORDS

# Words that open this dialog from anywhere, at any step: dialogs/words.toml.
KEYWORDS = TRIGGER_WORDS["incident"]

UNKNOWN = "unknown"
KIND_OPTIONS = (*KINDS, UNKNOWN)
WHEN_OPTIONS = ("now", "earlier_today", "yesterday", UNKNOWN)
YEAR_OPTIONS = ("yes",)


def parse_discovered(text: str, context: Context) -> dict:
    """A typed date or time (see dialogs/when.py): ISO 8601 in JST under "at" (a date alone,
    "11/20", stays a date, so nobody reads a time of day the user never gave), what was typed
    (echoed back with the full date), and whether the year was guessed (then confirmed)."""
    when = read(text, context.now)
    at = when.moment.isoformat() if when.has_time else when.moment.date().isoformat()
    return {"at": at, "typed": text.strip()[:40], "year_guessed": when.year_guessed}


def parse_discovered_again(text: str, context: Context) -> dict:
    """The date typed again after a guessed year: it must not need guessing a second time."""
    value = parse_discovered(text, context)
    if value["year_guessed"]:
        raise Invalid("need_year", typed=value["typed"])
    return value


def year_was_guessed(answers: Slots) -> bool:
    """Ask to confirm a typed yearless date that was read as last year's ("12/25" on 2 December)."""
    value = answers.get("discovered_at")
    return isinstance(value, dict) and bool(value.get("year_guessed"))


def open_record(answers: Slots, context: Context) -> Computed:
    """The first reply: numbers and first aid; the record is opened and staff alerted at once."""
    record = {"opened_at": context.now.isoformat(), "status": "triage", "locale": context.locale}
    return Computed(
        value={"opened_at": context.now.isoformat()},
        say=(Say("incident/first_aid"),),
        effects=(
            Effect("open_incident", {"record": record}),
            Effect(
                "notify_staff",
                {"key": "staff/incident_opened", "params": {"conversation": context.conversation}},
            ),
        ),
    )


def discovered_at(answers: Slots) -> tuple[datetime, bool, bool]:
    """When it was discovered; whether that is only assumed ("unknown"); whether the time of day
    is known (a "yesterday" tap or a typed date alone give the day, not the hour)."""
    opened = datetime.fromisoformat(answers["opened"]["opened_at"])
    value = answers["discovered_at"]
    again = answers.get("discovered_year")
    if isinstance(again, dict):  # typed again after the guessed year was shown
        value = again
    if isinstance(value, dict):  # typed: {"at": ISO date or date-time, "typed", "year_guessed"}
        value = value["at"]
    if value == "yesterday":
        return opened - timedelta(days=1), False, False
    if value == "earlier_today":
        return opened, False, False
    if value == "now":
        return opened, False, True
    if value == UNKNOWN:
        return opened, True, False
    if len(value) == len("2026-11-20"):  # a typed date without a time
        return datetime.combine(date.fromisoformat(value), time(0, 0), opened.tzinfo), False, False
    return datetime.fromisoformat(value), False, True


def facts_from(answers: Slots) -> IncidentFacts:
    moment, _, _ = discovered_at(answers)
    return IncidentFacts(
        kind="other" if answers["kind"] == UNKNOWN else answers["kind"],
        discovered_at=moment,
        data=frozenset(answers["data"]),
        people=answers["people"],
        encrypted=answers["encrypted"],
        contractor=answers["contractor"],
        insurance=answers["insurance"],
    )


def checklist_token(ref: str, item_id: str, done: bool) -> str:
    """The button sets the item to the opposite state ("…1" ticks, "…0" unticks), so a
    double tap lands on the same state instead of undoing itself."""
    return f"ck.{ref}.{item_id}.{0 if done else 1}"


def parse_checklist_token(token: str) -> tuple[str, str, bool | None] | None:
    """ "ck.<ref>.<item>.<1 tick|0 untick>" → (ref, item, True/False); an old "ck.<ref>.<item>"
    (before the target was part of it) → (ref, item, None: flip); not a checklist token → None."""
    if not token.startswith("ck."):
        return None
    ref, _, rest = token.removeprefix("ck.").partition(".")
    item, _, target = rest.rpartition(".") if rest[-2:] in (".0", ".1") else (rest, "", "")
    return ref, item, {"1": True, "0": False}.get(target)


def checklist_buttons(ref: str, items: list[dict]) -> tuple[Button, ...]:
    """One toggle per checklist item; ✅ once it is done."""
    return tuple(
        Button(
            checklist_token(ref, i["id"], i.get("done", False)), "checklist", i["id"], i.get("done", False)
        )
        for i in items
    )


def today_jst(now: datetime) -> str:
    """Today's JST date (ISO): the checklist marks a date before it as passed when shown."""
    return now.astimezone(JST).date().isoformat()


def _iso(value):
    return value.isoformat() if value is not None else None


def assess(answers: Slots, context: Context) -> Computed:
    """Work out duties and dates, and have the engine save, schedule, alert and send the summary."""
    ref = answers["opened"]["incident_ref"]
    facts = facts_from(answers)
    _, time_assumed, time_known = discovered_at(answers)
    det = ppc_determination(facts)
    mynumber = mynumber_determination(facts)
    dates = deadlines(facts, det, today=context.now.date())
    filing = filing_steps(det, mynumber)
    items = [
        {
            "id": item.id,
            "due": _iso(item.due),
            "hedged": item.hedged,
            "overdue": item.overdue,
            "done": False,
            "remind_at": [_iso(t) for t in reminder_times(item, now=context.now)],
        }
        for item in checklist(facts, det, dates, mynumber)
    ]
    view = {
        "ref": ref,
        "facts": {
            **asdict(facts),
            "data": sorted(facts.data),
            "discovered_at": facts.discovered_at.isoformat(),
        },
        "time_assumed": time_assumed,
        "time_known": time_known,
        "ppc": asdict(det),
        "filing": list(filing),
        "mynumber": asdict(mynumber) if mynumber else None,
        "dates": {
            k: _iso(v) if not isinstance(v, tuple | str | bool) else v for k, v in asdict(dates).items()
        },
        "first_aid": list(first_aid_steps()),
        "steps": list(type_steps(facts)),
        "insurer": list(insurer_requirements(facts)),
        "report": [asdict(item) for item in report_items(facts, det)],
    }
    record = {
        **view,
        "status": "assessed",
        "checklist": items,
        "opened_at": answers["opened"]["opened_at"],
    }
    return Computed(
        value={"ref": ref},
        say=(
            Say("incident/assessment", view),
            Say("incident/actions", view),
            Say(
                "incident/checklist",
                {"ref": ref, "items": items, "today": today_jst(context.now)},
                buttons=checklist_buttons(ref, items),
            ),
        ),
        effects=(
            Effect("save_incident", {"ref": ref, "record": record}),
            Effect("schedule_reminders", {"ref": ref, "items": items}),
            Effect("notify_staff", {"key": "staff/incident_summary", "params": view}),
            Effect(
                "send_document",
                {"key": "incident/document", "params": view, "filename": f"{ref}.txt"},
            ),
        ),
    )


NEXT_ACTIONS = {
    "checklist": Command("checklist"),
    "document": Command("document"),
    "staff": Command("staff"),
    "menu": Goto("menu"),
}

INCIDENT = Dialog(
    "incident",
    steps=(
        Compute("opened", run=open_record, slot="opened"),
        Choose(
            "kind",
            options=KIND_OPTIONS,
            labels="incident_kind",
            slot="kind",
            actions={"withdraw": Command("withdraw")},  # opened by mistake: one tap takes it back
        ),
        Choose(
            "discovered",
            options=WHEN_OPTIONS,
            labels="incident_discovered",
            slot="discovered_at",
            parse=parse_discovered,
            examples=("11/20 14:30", "40日前", "12/25"),
        ),
        Choose(
            "discovered_year",
            options=YEAR_OPTIONS,
            labels="incident_year",
            slot="discovered_year",
            parse=parse_discovered_again,
            examples=("2025/12/25", "12/26"),
            ask_if=year_was_guessed,
        ),
        MultiChoose("data", options=DATA, labels="incident_data", slot="data"),
        Choose("people", options=PEOPLE, labels="incident_people", slot="people"),
        Choose("encrypted", options=TRISTATE, labels="incident_yes_no", slot="encrypted"),
        Choose("contractor", options=CONTRACTOR, labels="incident_contractor", slot="contractor"),
        Choose("insurance", options=INSURANCE, labels="incident_insurance", slot="insurance"),
        Compute("assessed", run=assess, slot="assessed"),
        Menu("next", options=tuple(NEXT_ACTIONS), actions=NEXT_ACTIONS),
    ),
    keywords=KEYWORDS,
)

__all__ = ["INCIDENT", "Invalid", "checklist_buttons", "parse_discovered", "today_jst"]
