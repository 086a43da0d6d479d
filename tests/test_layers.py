"""The architecture's import rules, checked on the source (architecture.md, "Layers").

Imports point downward only (dags -> loanhub -> connectors -> bots -> mappings -> schemas);
nothing below ``dags/`` imports Airflow; simulators import nothing of the hub.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["dags", "loanhub", "connectors", "bots", "mappings", "schemas"]
HUB = {*LAYERS, "simulators"}


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def violations(root: Path, package: str) -> list[str]:
    """Every import in ``root/package`` that breaks the layering."""
    found = []
    below = set(LAYERS[LAYERS.index(package) + 1 :]) if package in LAYERS else set()
    base = root / package
    for path in sorted(base.rglob("*.py")) if base.is_dir() else []:
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for name in imports(path):
            top = name.split(".")[0]
            if top == "airflow" and package != "dags":
                found.append(f"{module} imports Airflow ({name})")
            elif top in HUB and top != package:
                if package == "simulators":
                    found.append(f"{module} imports the hub ({name})")
                elif top not in below:
                    found.append(f"{module} imports {name}, which is not below {package}")
    return found


@pytest.mark.parametrize("package", [*LAYERS, "simulators"])
def test_imports_point_downward_only(package: str) -> None:
    assert violations(ROOT, package) == []


def test_the_checker_catches_upward_imports_airflow_and_hub_imports(tmp_path: Path) -> None:
    for package, source in [
        ("schemas", "from loanhub.ledger import WorkItemLedger\n"),
        ("mappings", "import connectors.sftp\n"),
        ("loanhub", "from airflow.sdk import dag\n"),
        ("simulators", "from schemas.party import Party\n"),
    ]:
        (tmp_path / package).mkdir()
        (tmp_path / package / "bad.py").write_text(source)
        assert len(violations(tmp_path, package)) == 1, package
    (tmp_path / "loanhub" / "good.py").write_text("from schemas.party import Party\n")
    assert len(violations(tmp_path, "loanhub")) == 1  # still only the Airflow import
