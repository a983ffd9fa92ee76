"""The layers' rules, read from the code: every import, function-local and type-only ones too.

* Between the inner layers of two domains (everything but their routes, request
  dependencies, command lines, web pages and flows) imports point one way: no
  circle, however long.
* The job queue (``app.jobs``) imports no domain but the shared ones: the
  domains register their job kinds with it (``app.jobs.registry``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"

# The outer layers: they may reach into any domain, nothing inner reaches into them.
OUTER = {"routes", "deps", "cli", "pages", "flows"}
# What the queue may import: infrastructure every domain shares.
SHARED = {"api", "db", "errors", "settings", "auth", "audit"}


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the statement is (functions included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = (package or module_name(path)).split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.add(stem)
            # ``from app.jobs import runner`` imports the module app.jobs.runner.
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "app" or name.startswith("app.")}


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def is_inner(module: str) -> bool:
    parts = module.split(".")
    return len(parts) > 2 and not OUTER.intersection(parts[2:])


def app_modules() -> dict[str, set[str]]:
    existing = {module_name(p) for p in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in APP.rglob("*.py"):
        # Keep only names that are modules (``from app.x import some_function`` names app.x).
        graph[module_name(path)] = {m for m in imports_of(path) if m in existing}
    return graph


def domain_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, imported in graph.items():
        if not is_inner(module):
            continue
        source = domain_of(module)
        for target in imported:
            other = domain_of(target)
            if other is not None and other != source and (APP / other).is_dir():
                assert source is not None
                edges[source].add(other)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one domain (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_function_local_and_type_only_imports(tmp_path: Path) -> None:
    source = APP / "jobs" / "dispatch.py"
    # dispatch.py imports the runner inside a function and the backends for typing only.
    assert {"app.jobs.runner", "app.jobs.backends"} <= imports_of(source)


def test_the_circle_finder_finds_a_long_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(edges) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_between_the_inner_layers_of_two_domains() -> None:
    edges = domain_graph(app_modules())
    found = circles(edges)
    detail = {
        tuple(group): {
            f"{m} -> {t}"
            for m, ts in app_modules().items()
            if is_inner(m) and domain_of(m) in group
            for t in ts
            if domain_of(t) in group and domain_of(t) != domain_of(m)
        }
        for group in found
    }
    assert found == [], detail


@pytest.mark.parametrize("module", sorted(m for m in app_modules() if domain_of(m) == "jobs"))
def test_the_job_queue_imports_no_domain(module: str) -> None:
    domains = {domain_of(m) for m in app_modules()[module]} - {"jobs", None}
    assert domains <= SHARED, f"{module} imports {sorted(domains - SHARED)}"
