"""How the modules of `jifen` import each other, read from the source (nothing is imported):
no module uses another module's private names, and the notifications capability has no import
circle (lazy imports inside functions count: they hide a circle, they do not break it)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in (ROOT / "jifen").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


MODULES = _modules()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports() -> list[str]:
    """`from jifen.x import _name`, and `module._name` through an imported jifen module."""
    found = []
    for name, tree in MODULES.items():
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jifen"):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in MODULES:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    elif _private(alias.name) and node.module != name:
                        found.append(f"{name}: from {node.module} import {alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and _private(node.attr) and aliases[node.value.id] != name):
                found.append(f"{name}: {aliases[node.value.id]}.{node.attr}")
    return sorted(set(found))


def imports_of(name: str) -> set[str]:
    """The jifen modules `name` imports, at its top or inside a function; not the packages it is
    part of (a package's `__init__` assembling its parts is how a package is built)."""
    out = set()
    for node in ast.walk(MODULES[name]):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jifen"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
    return {m for m in out & set(MODULES) if not name.startswith(m + ".")}


def circles() -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    graph = {name: imports_of(name) for name in MODULES}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_a_private_name_of_another():
    assert private_imports() == []


def test_the_finder_sees_a_private_import():
    tree = ast.parse("from jifen.platform.db import _secret\n")
    MODULES["jifen.probe"] = tree
    try:
        assert "jifen.probe: from jifen.platform.db import _secret" in private_imports()
    finally:
        del MODULES["jifen.probe"]


def test_notifications_have_no_import_circle():
    tangled = [sorted(g) for g in circles() if any(m.startswith("jifen.tenants.notifications.") for m in g)]
    assert tangled == []
