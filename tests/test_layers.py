"""Services never import a page module: pages and the API sit on top of the services, not under."""
from __future__ import annotations

import ast
from pathlib import Path

import jifen

ROOT = Path(jifen.__file__).parent
INTERFACES = ("views", "api")  # modules named *views / *api are pages and API handlers


def _is_interface(module: str) -> bool:
    return module.rsplit(".", 1)[-1].endswith(INTERFACES)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_service_imports_a_page_module():
    offenders = []
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        if _is_interface(module) or module in ("jifen.__init__", "jifen.cli"):
            continue  # the app factory and the CLI wire the pages in
        offenders += [f"{module} -> {name}" for name in _imports(path)
                      if name.startswith("jifen.") and name.rsplit(".", 1)[-1].endswith("views")]
    assert offenders == []


def test_no_api_module_imports_a_page_module():
    """The API and the pages are siblings: what both need (a file answer, a link) lives below them."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        if module.rsplit(".", 1)[-1].endswith("api"):
            offenders += [f"{module} -> {name}" for name in _imports(path)
                          if name.startswith("jifen.") and name.rsplit(".", 1)[-1].endswith("views")]
    assert offenders == []
