"""Dialogs declared as data (see dialogs/steps.py), and the registry the engine runs."""

from dialogs.incident import INCIDENT
from dialogs.menu import FAQ, HAPPENED, MENU, PRIVACY
from dialogs.quote import QUOTE
from dialogs.steps import Dialog


def all_dialogs() -> dict[str, Dialog]:
    return {d.name: d for d in (MENU, QUOTE, INCIDENT, FAQ, PRIVACY, HAPPENED)}
