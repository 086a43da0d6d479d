"""The architecture's import rules, checked on the source (architecture.md, "Layers").

Imports point downward only; nothing below ``dags/`` imports Airflow; simulators import
nothing of the hub. ``loanhub.identifiers`` and ``loanhub.masking`` are leaf modules that
every layer may use (they import nothing of the hub but each other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["dags", "loanhub", "connectors", "bots", "mappings", "schemas"]
LEAVES = {"loanhub.identifiers", "loanhub.masking"}
HUB = {*LAYERS, "simulators"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []


def _is_leaf(name: str) -> bool:
    return any(name == leaf or name.startswith(leaf + ".") for leaf in LEAVES)


def _violations(package: str) -> list[str]:
    found = []
    below = set(LAYERS[LAYERS.index(package) + 1 :]) if package in LAYERS else set()
    for path in _modules(package):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "airflow" and package != "dags":
                found.append(f"{module} imports Airflow ({name})")
            if top not in HUB or top == package:
                continue
            if package == "simulators":
                found.append(f"{module} imports the hub ({name})")
            elif _is_leaf(name) or name == "loanhub":
                continue
            elif top not in below:
                found.append(f"{module} imports {name}, which is not below {package}")
    return found


@pytest.mark.parametrize("package", [*LAYERS, "simulators"])
def test_imports_point_downward_only(package: str) -> None:
    assert _violations(package) == []


def test_leaf_modules_import_nothing_else_of_the_hub() -> None:
    for leaf in LEAVES:
        path = ROOT / (leaf.replace(".", "/") + ".py")
        hub_imports = [n for n in _imports(path) if n.split(".")[0] in HUB]
        assert all(_is_leaf(n) or n == "loanhub" for n in hub_imports), (leaf, hub_imports)


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from loanhub.ledger import WorkItemLedger\nimport airflow\n")
    names = _imports(bad)
    assert "loanhub.ledger" in names
    assert "airflow" in names
    assert not _is_leaf("loanhub.ledger")
    assert _is_leaf("loanhub.masking")
