"""The architecture's import rules, checked on the source (architecture.md, "Layers").

Imports point downward only, through this stack (a layer may import any layer below it):

    dags -> loanhub_provider -> loanhub.cli -> loanhub.dashboard -> loanhub.runtime
         -> loanhub.flows -> loanhub.platform -> connectors -> bots -> mappings -> schemas
         -> kernel -> contracts

Besides:
- nothing below ``dags/`` and ``loanhub_provider/`` (the hooks) imports Airflow, and nothing
  under ``loanhub/`` reads Airflow's shapes (the human-review fields are the DAGs' adapter's
  business);
- connectors and bots import no store (SQLAlchemy) and none of the hub's services;
- simulators import nothing of the hub but the shared contracts;
- nothing imports ``devtools`` (the local cluster, the demo, the scripted humans): it sits above
  everything and never ships.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["loanhub"][
    "layers"
]  # the stack, written once in pyproject.toml
TOPS = {name.split(".")[0] for name in LAYERS} | {"simulators", "devtools"}
AIRFLOW_IMPORTERS = {"dags", "loanhub_provider", "devtools"}  # the DAGs, the hooks, dev tools
NO_STORE = {"connectors", "bots"}  # plain protocol clients, as Airflow's hooks are
AIRFLOW_SHAPES = re.compile(
    r"\b(assigned_users|responded_by_user|chosen_options|params_input|task_instance|dag_run_id)\b"
)


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching prefix)."""
    for layer in sorted([*LAYERS, "simulators", "devtools"], key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.extend(
                [f"{node.module}.{a.name}" for a in node.names]
                if node.module in {"loanhub", "dags"}
                else [node.module]
            )
    return names


def violations(root: Path, layer: str) -> list[str]:
    """Every import in ``layer``'s files (under ``root``) that breaks the layering."""
    found = []
    base = root.joinpath(*layer.split("."))
    paths = sorted(base.rglob("*.py")) if base.is_dir() else []
    if layer == "loanhub":  # the package's own files outside the sub-layers
        paths = [p for p in paths if p.parent == base]
    if layer == "loanhub":  # ``python -m loanhub`` and the package's docstring: over all of it
        below = set(LAYERS[1:])
    else:
        below = set(LAYERS[LAYERS.index(layer) + 1 :]) if layer in LAYERS else set()
    for path in paths:
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for name in imports(path):
            top = name.split(".")[0]
            target = layer_of(name)
            if top == "airflow" and layer not in AIRFLOW_IMPORTERS:
                found.append(f"{module} imports Airflow ({name})")
            elif layer in NO_STORE and top in {"sqlalchemy", "psycopg", "asyncpg", "alembic"}:
                found.append(f"{module} imports a store ({name})")
            elif top not in TOPS or target == layer or layer == "devtools":
                continue
            elif target == "devtools":
                found.append(f"{module} imports devtools ({name})")
            elif layer == "simulators":
                if target != "contracts":
                    found.append(f"{module} imports the hub ({name})")
            elif target not in below:
                found.append(f"{module} imports {name}, which is not below {layer}")
        # under loanhub/ only: loanhub_provider is Airflow's adapter (its hooks and notifier
        # are handed Airflow's objects), as dags/ is
        in_hub = layer == "loanhub" or layer.startswith("loanhub.")
        if in_hub and AIRFLOW_SHAPES.search(path.read_text("utf-8")):
            found.append(f"{module} reads Airflow's shapes")
    return found


@pytest.mark.parametrize("layer", [*LAYERS, "loanhub", "simulators", "devtools"])
def test_imports_point_downward_only(layer: str) -> None:
    assert violations(ROOT, layer) == []


def test_every_package_is_in_a_layer() -> None:
    """A new top-level package or ``loanhub`` sub-package must be placed in the stack."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - TOPS <= {"tests", "bench"}
    subpackages = {p.parent.name for p in (ROOT / "loanhub").glob("*/__init__.py")}
    assert {f"loanhub.{name}" for name in subpackages} <= set(LAYERS)


def test_the_checker_catches_upward_imports_airflow_stores_and_hub_imports(
    tmp_path: Path,
) -> None:
    for layer, source in [
        ("schemas", "from loanhub.platform.ledger import WorkItemLedger\n"),
        ("kernel", "from schemas.hub import WorkItem\n"),
        ("mappings", "import connectors.sftp\n"),
        ("loanhub.flows", "from airflow.sdk import dag\n"),
        ("loanhub.platform", "from loanhub.flows import harvest\n"),
        ("loanhub.flows", "from loanhub.runtime.settings import HubSettings\n"),
        ("loanhub.runtime", "from devtools.demo import main\n"),
        ("connectors", "from sqlalchemy import Engine\n"),
        ("bots", "from loanhub.platform.guards import LedgerGuard\n"),
        ("simulators", "from schemas.party import Party\n"),
        ("loanhub.runtime", "def f(d):\n    return d['responded_by_user']\n"),
        ("dags", "from devtools.cluster import LocalCluster\n"),
        ("loanhub.runtime", "from loanhub_provider.hooks import BureauHook\n"),
        ("connectors", "from airflow.sdk import BaseHook\n"),
    ]:
        folder = tmp_path.joinpath(*layer.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "bad.py").write_text(source)
        assert len(violations(tmp_path, layer)) == 1, (layer, source)
        (folder / "bad.py").unlink()
    (tmp_path / "simulators" / "good.py").write_text("from contracts import WSDL_DIR\n")
    (tmp_path / "loanhub" / "flows" / "good.py").write_text("from loanhub.platform import audit\n")
    assert violations(tmp_path, "simulators") == []
    assert violations(tmp_path, "loanhub.flows") == []
