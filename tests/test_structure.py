"""The code's shape: no import cycles, the composition root imported only by its users, handlers that use their
context's named members and never the app behind it, and every test offline."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scheduler", "models")
# Who may import the composition root (bot.app): the programs that build a bot.
APP_USERS = {"bot.cli", "bot.simulate", "bot.adapters.console"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module of ours `name` imports: at the top, under TYPE_CHECKING or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from handlers import fund" imports the module handlers.fund; "from models import Member" the package
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_from_the_sources():
    assert {"bot.context", "bot.router", "scheduler.core", "handlers.fund"} <= set(GRAPH)
    assert "bot.context" in GRAPH["bot.router"] and "bot.app" in GRAPH["bot.cli"]


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_only_the_programs_that_build_a_bot_import_the_app():
    importers = {name for name, targets in GRAPH.items() if "bot.app" in targets}
    assert importers and importers <= APP_USERS, importers


def test_handlers_and_jobs_use_their_contexts_named_members_only():
    """No handler reaches through its context to the app or the services behind the named members."""
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith(("handlers", "scheduler")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("app", "runtime"):
                offenders.append(f"{name}:{node.lineno} .{node.attr}")
    assert offenders == []


# Libraries too heavy to load before they are needed (charts, spreadsheets, image decoding, an LLM client): the
# memory budget (a bot serving 10 groups under 150 MB) holds only if they load on first use.
HEAVY = {"matplotlib", "numpy", "pandas", "PIL", "openpyxl", "openai", "zxingcpp"}


def _imported(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return {node.module.split(".")[0]}
    return set()


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when `path` is imported (not inside a function, nor under `if TYPE_CHECKING:`)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.Try, ast.If)):
            found |= set().union(*(_imported(inner) for inner in ast.walk(node)))
        else:
            found |= _imported(node)
    return found


def test_heavy_libraries_are_imported_where_first_used_not_at_start(tmp_path):
    offenders = {name: sorted(found) for name, path in MODULES.items()
                 if (found := _top_level_imports(path) & HEAVY)}
    assert offenders == {}
    eager = tmp_path / "eager.py"
    eager.write_text("import matplotlib.pyplot as plt\n\n\ndef chart():\n    import openpyxl\n")
    assert _top_level_imports(eager) & HEAVY == {"matplotlib"}
