"""The store is the bottom layer: it depends on the contract, never on the domains above it."""

from __future__ import annotations

import ast
from pathlib import Path

import retentio.store

FORBIDDEN = ("retentio.ingest", "retentio.analytics")


def _imports(path: Path) -> list[str]:
    """Every module a file imports, at the top or inside functions (``from x import y`` counts as x)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_store_never_imports_ingest_or_analytics() -> None:
    package = Path(retentio.store.__file__).parent
    offending = {
        f"{path.relative_to(package)}: {name}"
        for path in package.rglob("*.py")
        for name in _imports(path)
        if any(name == top or name.startswith(f"{top}.") for top in FORBIDDEN)
    }
    assert not offending, f"retentio.store must not import ingest or analytics: {sorted(offending)}"
