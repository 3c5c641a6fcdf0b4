"""Where a conversation rests: the /start menu, coverage questions, deleting one's data, and the
one-tap "has this happened to you?" after a message that only names an incident."""

from __future__ import annotations

from dialogs.steps import Command, Dialog, Goto, Menu, Show

HOME_ACTIONS = {
    "quote": Goto("quote"),
    "incident": Goto("incident"),
    "staff": Command("staff"),
    "faq": Goto("faq"),
}

MENU = Dialog("menu", steps=(Menu("start", options=tuple(HOME_ACTIONS), actions=HOME_ACTIONS, anytime=True),))

FAQ_TOPICS = (
    "who_can_join",
    "revenue",
    "what_is_covered",
    "cover_period",
    "payment",
    "after_incident",
)
FAQ_ACTIONS = {**{topic: Show(f"faq/{topic}") for topic in FAQ_TOPICS}, "back": Goto("menu")}

FAQ = Dialog("faq", steps=(Menu("topics", options=tuple(FAQ_ACTIONS), actions=FAQ_ACTIONS, labels="faq"),))

PRIVACY_ACTIONS = {"delete_confirm": Command("forget"), "delete_keep": Goto("menu")}

PRIVACY = Dialog("privacy", steps=(Menu("confirm", options=tuple(PRIVACY_ACTIONS), actions=PRIVACY_ACTIONS),))

# A message that only names an incident ("漏えい"): did it happen, or is it a question?
HAPPENED_ACTIONS = {"yes": Goto("incident"), "no": Goto("faq")}

HAPPENED = Dialog(
    "happened",
    steps=(Menu("ask", options=tuple(HAPPENED_ACTIONS), actions=HAPPENED_ACTIONS, labels="happened"),),
)
