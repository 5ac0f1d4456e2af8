"""The control plane's import direction (STYLE 1): the domain does no I/O and knows no
framework; services know no web framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import control_plane

ROOT = Path(control_plane.__file__).parent
FORBIDDEN = {
    "domain": {"psycopg", "psycopg_pool", "fastapi", "starlette", "httpx", "subprocess",
               "uvicorn", "control_plane.adapters", "control_plane.api",
               "control_plane.services", "control_plane.providers"},
    "services": {"fastapi", "starlette", "uvicorn", "control_plane.api"},
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer: str) -> None:
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = {
            name for name in imports_of(path)
            for banned in FORBIDDEN[layer]
            if name == banned or name.startswith(banned + ".")
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
