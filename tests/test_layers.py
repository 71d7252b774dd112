"""The house plan, checked: imports go down the rooms, never up, never in a circle.

Rooms from top to bottom (docs/design.md draws them). A module may import its own room and any
room below; rooms that share a row may not import each other. Imports inside functions and under
TYPE_CHECKING count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS: list[tuple[str, ...]] = [
    ("bot.__main__",),
    ("bot.cli",),
    ("bot.app",),
    ("bot.commands",),
    ("bot.chat",),
    ("bot.ingest",),
    ("bot.fulltext",),
    ("bot.archive",),
    ("bot.config",),
    ("bot.statements",),
    ("bot.store", "bot.net"),
    ("bot.text",),
    ("bot.runtime",),
]
ADAPTERS_MAY_IMPORT = ("bot.commands", "bot.chat")
# Rooms that hold pure functions: nothing that touches a disk, a socket or a database.
PURE_ROOMS = ("bot.text", "bot.statements")
IO_MODULES = ("sqlalchemy", "httpx", "httpcore", "aiohttp", "asyncio", "socket", "subprocess", "shutil", "sqlite3")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("bot", "adapters"):
        for path in (ROOT / top).rglob("*.py"):
            if "alembic" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every project module `name` imports, resolved to the longest known module name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` depends on pkg.mod; `from mod import name` on mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(name, path, known)) for name, path in modules.items()}


def _room(module: str) -> tuple[int, str] | None:
    for level, rooms in enumerate(LAYERS):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                return level, room
    return None


def test_every_module_has_a_room() -> None:
    homeless = [m for m in _modules() if m.startswith("bot.") and _room(m) is None]
    assert homeless == [], f"modules outside the rooms of the plan: {homeless}"


def test_imports_only_go_down() -> None:
    upward = []
    for module, targets in _graph().items():
        here = _room(module)
        if here is None:
            continue
        for target in targets:
            there = _room(target)
            if there is None or there[1] == here[1]:
                continue
            if there[0] <= here[0]:
                upward.append(f"{module} -> {target}")
    assert upward == [], "imports that go up or sideways:\n" + "\n".join(sorted(upward))


def test_adapters_import_only_the_command_core_and_chat() -> None:
    wrong = [
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if module.startswith("adapters")
        for target in targets
        if target.startswith("bot") and not target.startswith(ADAPTERS_MAY_IMPORT)
    ]
    assert wrong == [], "\n".join(sorted(wrong))


def test_bot_never_imports_adapters_or_chat_sdks() -> None:
    wrong = []
    for name, path in _modules().items():
        if not name.startswith("bot"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            wrong += [f"{name} -> {n}" for n in names if n.split(".")[0] in ("adapters", "slack_bolt", "slack_sdk", "discord")]
    assert wrong == [], "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == [], f"import cycles: {cycles}"


def test_pure_rooms_do_no_io() -> None:
    wrong = []
    for name, path in _modules().items():
        if not name.startswith(PURE_ROOMS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            wrong += [f"{name} -> {n}" for n in names if n.split(".")[0] in IO_MODULES]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                wrong.append(f"{name}: open() at line {node.lineno}")
    assert wrong == [], "\n".join(wrong)
