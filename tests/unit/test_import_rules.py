"""The layering of docs/architecture.md, checked on the source: arrows point one way and nothing imports in a circle.

Every ``import`` counts, including those inside functions: a lazy import hides a cycle from the
interpreter but not from a reader. The graph is read from the source with ``ast``, so the check needs no
import of the application and runs in milliseconds.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "graphql_schema", "workers")

#: The shared kernel (settings, enum values, constants, typed errors): imported from anywhere, imports no layer.
KERNEL = {"app", "app.config", "app.constants", "app.enums", "app.errors"}

#: Layer → the layers it may import (besides itself and the kernel). Top to bottom: entry points, use cases, ports.
ALLOWED: dict[str, set[str]] = {
    "app.cli": {
        "app.http",
        "workers",
        "graphql_schema",
        "app.maintenance",
        "app.services",
        "app.ml",
        "app.db",
        "app.runtime",
    },
    "app.http": {"graphql_schema", "app.maintenance", "app.services", "app.db", "app.runtime"},
    "workers": {"app.maintenance", "app.services", "app.db", "app.runtime"},
    "graphql_schema": {"app.services", "app.ml", "app.db", "app.runtime"},
    "app.maintenance": {"app.services", "app.db", "app.runtime"},
    "app.services": {"app.ml", "app.db", "app.runtime"},
    "app.runtime": {"app.db"},
    "app.db": set(),
    #: Pure statistics: numpy, pandas, scipy, statsmodels; nothing of the application, not even the kernel.
    "app.ml": set(),
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[str]:
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module → the project's modules it imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name in imported_names(module, path):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def layer(module: str) -> str | None:
    if module in KERNEL:
        return "kernel"
    for candidate in ALLOWED:
        if module == candidate or module.startswith(candidate + "."):
            return candidate
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_every_module_belongs_to_a_layer() -> None:
    assert [module for module in modules() if layer(module) is None] == []


def test_imports_point_down_the_layers() -> None:
    wrong_way = [
        f"{source} -> {target}"
        for source, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if (source_layer := layer(source)) != (target_layer := layer(target))
        and target_layer != "kernel"
        and target_layer not in ALLOWED.get(source_layer or "", set())
    ]
    assert wrong_way == []


def test_the_kernel_imports_only_the_kernel() -> None:
    graph = import_graph()
    assert {module: graph[module] - KERNEL for module in KERNEL if graph[module] - KERNEL} == {}


def test_ml_imports_nothing_of_the_application() -> None:
    graph = import_graph()
    outside = {module: {t for t in targets if layer(t) != "app.ml"} for module, targets in graph.items()}
    assert {module: targets for module, targets in outside.items() if layer(module) == "app.ml" and targets} == {}


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_the_layer_rule_sees_a_lazy_wrong_way_import(tmp_path: Path) -> None:
    source = tmp_path / "resources.py"
    source.write_text("def open():\n    from app.services.models import training\n")
    assert "app.services.models.training" in set(imported_names("app.runtime.resources", source))
