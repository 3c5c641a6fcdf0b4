"""Imports in bot/ point one way: channels → engine → flow → dialogs → rates, messages/state at
the bottom. Every import counts: module level, inside a function (a lazy import), and under
`if TYPE_CHECKING:` (a type-only import is still a dependency: the modules cannot be read apart).

Each module of bot/ has a layer below; it may import its own layer and the layers under it,
never one above. A new module gets a layer here (the test says so), and no two modules may
import each other, even through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A pattern ending in ".*" covers a package's modules.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("bot", "bot.__init__", "bot.messages", "bot.state", "bot.markup"),  # the vocabulary
    ("bot.settings", "bot.texts", "bot.logs", "bot.metrics"),  # configuration, words, telemetry
    ("bot.store", "bot.store.*"),  # the store protocol and its backends
    ("bot.context",),  # what a turn is to the flow's helpers
    ("bot.effects", "bot.handoff"),  # what the flow does besides talking
    ("bot.commands",),  # commands declared as data
    ("bot.turn",),  # the dialog flow: one event applied to one conversation
    ("bot.limits",),  # how fast the bot may send
    ("bot.outbox",),  # one way out
    ("bot.engine",),  # one way in, turns, and the flush after each
    ("bot.app",),  # the composition root
    ("bot.channels", "bot.channels.*", "bot.ops", "bot.records"),  # adapters: platform ↔ engine
    ("bot.web", "bot.cli", "bot.__main__"),  # the commands people run
)
OUTSIDE = {"dialogs": -1, "rates": -2}  # below the whole of bot/: bot may use them, never the reverse


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    for rank, patterns in enumerate(LAYERS):
        for pattern in patterns:
            if module == pattern or (pattern.endswith(".*") and module.startswith(pattern[:-1])):
                return rank
    return OUTSIDE.get(module.split(".")[0])


MODULES = {module_name(p): p for p in sorted((ROOT / "bot").rglob("*.py"))}
KNOWN = set(MODULES) | {"dialogs", "rates"}


def own_imports(path: Path) -> set[str]:
    """Every module of ours this file imports, wherever the import statement stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("dialogs", "rates"):
                found.add(target.split(".")[0])
                continue
            while target and target not in KNOWN:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: own_imports(path) for name, path in MODULES.items()}


def test_import_direction_every_module_has_a_layer():
    """A new module of bot/ is given its place in LAYERS above."""
    assert [name for name in MODULES if layer_of(name) is None] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_import_direction_no_import_points_up(module):
    """A module imports its own layer and lower ones only (type-only and lazy imports included)."""
    mine = layer_of(module)
    upward = sorted(m for m in GRAPH[module] if (layer_of(m) or 0) > (mine or 0))
    assert upward == [], f"{module} (layer {mine}) imports higher layers: {upward}"


def test_import_direction_no_cycles_even_for_types():
    """No module reaches itself through its imports (the knot turn/engine/commands/effects/handoff
    was held together by TYPE_CHECKING imports; it must not come back)."""
    # A package importing its own modules (bot.store's open_store → bot.store.sqlite) is its face.
    graph = {n: {m for m in deps if m in MODULES and not m.startswith(n + ".")} for n, deps in GRAPH.items()}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" → ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_import_direction_counts_type_only_and_lazy_imports():
    """The checker itself: bot/turn.py names the store's Transaction only under TYPE_CHECKING, and
    bot/cli.py imports the console channel inside a function; both count."""
    assert "bot.store" in GRAPH["bot.turn"]
    assert "bot.channels.console" in GRAPH["bot.cli"]
