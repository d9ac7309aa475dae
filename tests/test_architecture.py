"""The shape of the house, read from the code itself: every import of every module
(function-local ones included, as `ast` sees them) goes one way between the apps, and no
app's modules import each other in a circle.

The direction is the brief's: core <- profiles <- consent <- events <- campaigns <- surveys;
config wires them all together and may import any of them.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from tests.utils import ROOT

LAYERS = ("core", "profiles", "consent", "events", "campaigns", "surveys")
PACKAGES = (*LAYERS, "config")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the product (no migrations, no tests), by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str, source: str, known: set[str] | dict[str, Path]) -> set[str]:
    """The known modules that module `name` (source text given) imports, wherever in the
    file the import is; a name imported from a module counts as that module."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    is_package = isinstance(known, dict) and name in known and known[name].name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@cache
def imports() -> dict[str, set[str]]:
    """module -> the product's modules it imports."""
    known = modules()
    return {name: imports_of(name, path.read_text(), known) for name, path in known.items()}


def _app(module: str) -> str:
    return module.split(".")[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
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
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_reads_function_local_and_relative_imports():
    known = {"shop.a", "shop.b", "shop.c", "shop.d", "other"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n"
        "    from other import Thing\n"
        "def f():\n"
        "    from .c import name\n"
        "    import shop.d\n"
    )
    assert imports_of("shop.a", source, known) == {"shop.b", "shop.c", "shop.d"}
    # A relative import of a module of the same package, in the real tree.
    assert "consent.services.ledger" in imports()["consent.services"]
    # And the finder finds a circle where there is one.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_app_imports_one_above_it():
    against = []
    for module, targets in imports().items():
        app = _app(module)
        if app == "config":
            continue
        for target in targets:
            other = _app(target)
            if other == "config" or LAYERS.index(other) > LAYERS.index(app):
                against.append(f"{module} -> {target}")
    assert against == []


def test_no_modules_of_one_app_import_each_other_in_a_circle():
    within_apps = {
        module: {t for t in targets if _app(t) == _app(module)}
        for module, targets in imports().items()
    }
    assert _cycles(within_apps) == []


def test_only_an_apps_config_imports_its_tasks_module():
    """Tasks import the services they run; a service queues a task by name
    (core.queue.task_queue), so nothing imports a tasks module back but the AppConfig
    that registers it."""
    importers = [
        f"{module} -> {target}"
        for module, targets in imports().items()
        for target in targets
        if target.endswith(".tasks") and module not in (f"{_app(target)}.apps", target)
    ]
    assert importers == []


def _queued_names() -> set[str]:
    names = set()
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "task_queue"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_every_task_a_service_queues_by_name_is_registered():
    from config.celery import app

    queued = _queued_names()
    assert {"profiles.tasks.run_import_job", "consent.tasks.send_opt_in_mail"} <= queued
    assert queued - set(app.tasks) == set()
