"""The architecture picture is the code's: same stack as the layering checks, and the committed
``docs/architecture.svg`` and ``docs/architecture.md`` regenerated from today's tree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from devtools import architecture
from tests import test_layers


def test_the_picture_draws_the_stack_the_layering_checks_enforce() -> None:
    assert architecture.LAYERS == test_layers.LAYERS  # both read pyproject.toml
    for layer in architecture.LAYERS:  # and every layer of it is a package on disk
        assert (architecture.ROOT.joinpath(*layer.split(".")) / "__init__.py").is_file(), layer


def test_every_layer_has_its_role_written() -> None:
    assert set(architecture.ROLES) == set(architecture.SHOWN)


def test_the_committed_picture_and_table_are_what_the_code_gives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = architecture.main(["--check"])
    assert code == 0, capsys.readouterr().out


def _tree(root: Path) -> None:
    """A two-layer tree: flows imports the platform, the platform a module of the kernel."""
    for package, source in [
        ("loanhub/flows", "from loanhub.platform import ledger\n"),
        ("loanhub/platform", "from kernel.failures import TransientError\n"),
        ("kernel", ""),
    ]:
        folder = root / package
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text("")
        (folder / "mod.py").write_text(source)
    (root / "loanhub" / "__init__.py").write_text("")
    (root / "docs").mkdir()
    (root / "docs" / "architecture.md").write_text(
        f"# Architecture\n\n{architecture.BEGIN}\nold\n{architecture.END}\n\nkept\n"
    )


def test_modules_and_imports_are_read_from_the_tree(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "loanhub" / "flows" / "sub").mkdir()
    (tmp_path / "loanhub" / "flows" / "sub" / "__init__.py").write_text("")
    (tmp_path / "loanhub" / "flows" / "sub" / "deep.py").write_text("from . import x\n")
    layers = {layer.name: layer for layer in architecture.read_tree(tmp_path)}
    assert layers["loanhub.flows"].modules == ["mod", "sub.deep"]
    assert layers["loanhub.flows"].imports == {"loanhub.platform": 1}
    assert layers["loanhub.platform"].imports == {"kernel": 1}
    assert layers["kernel"].imports == {}
    assert layers["connectors"].modules == []


def test_the_check_fails_when_the_code_moves_and_passes_once_regenerated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(tmp_path)
    assert architecture.main(["--check", "--root", str(tmp_path)]) == 1
    assert architecture.main(["--root", str(tmp_path)]) == 0
    markdown = (tmp_path / "docs" / "architecture.md").read_text()
    assert "| `loanhub.flows` |" in markdown
    assert "old" not in markdown
    assert markdown.endswith("kept\n")
    assert architecture.main(["--check", "--root", str(tmp_path)]) == 0

    (tmp_path / "kernel" / "calls.py").write_text("")  # a module moved in
    capsys.readouterr()
    assert architecture.main(["--check", "--root", str(tmp_path)]) == 1
    message = capsys.readouterr().out
    assert message.count("\n") == 1
    assert "docs/architecture.svg" in message
    assert "python -m devtools.architecture" in message


# --- the prose around the picture: every path and module it names exists -------------------

DOCS = [architecture.ROOT / "README.md", *sorted((architecture.ROOT / "docs").glob("*.md"))]
TOP = {p.name for p in architecture.ROOT.iterdir() if p.is_dir()} - {"var", "airflow_home"}
PACKAGES = {"dags", "loanhub", "connectors", "bots", "mappings", "schemas", "kernel"}
PACKAGES |= {"contracts", "simulators", "devtools", "bench", "tests"}
CODE = re.compile(r"`([^`\s]+)`")
WRITTEN_BY_RUNS = {"bench/results.json"}  # git-ignored, written by make bench
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def _defined(module: Path) -> set[str]:
    """The names a module defines at its top level (functions, classes, assignments)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _resolves(dotted: str) -> bool:
    """``a.b.c`` is a module or package of the tree, or a name one of them defines."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = architecture.ROOT.joinpath(*parts[:cut])
        rest = parts[cut:]
        for module in (base.with_suffix(".py"), base / "__init__.py"):
            if module.exists():
                return not rest or (len(rest) == 1 and rest[0] in _defined(module))
    return False


def _broken(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    found = []
    for token in CODE.findall(text):
        token = token.rstrip(".,:;")
        first = token.split("/")[0]
        if "/" in token and first in TOP and not token.startswith(("http", "/")):
            path = token.split(":")[0].rstrip("/")
            if "<" in path or "*" in path:  # a pattern: its folder must exist
                path = path[: path.find("<") if "<" in path else path.find("*")].rsplit("/", 1)[0]
            if path not in WRITTEN_BY_RUNS and not (architecture.ROOT / path).exists():
                found.append(token)
        elif (
            re.fullmatch(r"[a-z_]+(\.[A-Za-z_]\w*)+", token)
            and first.split(".")[0] in PACKAGES
            and not _resolves(token)
        ):
            found.append(token)
    for target in LINK.findall(text):
        if not target.startswith(("http:", "https:", "mailto:")) and not (
            (doc.parent / target).exists()
        ):
            found.append(target)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_module_and_link_the_docs_name_exists(doc: Path) -> None:
    assert _broken(doc) == []


def test_the_docs_check_catches_a_moved_path_module_or_link(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(
        "`loanhub/flows/harvest.py` `loanhub.flows.harvest.run_batch` `var/loanhub.db`\n"
        "`loanhub/pipeline.py` `loanhub.pipeline` `loanhub.flows.harvest.no_such_name`\n"
        "[gone](nowhere.md) [web](https://example.org/x)\n"
    )
    assert _broken(doc) == [
        "loanhub/pipeline.py",
        "loanhub.pipeline",
        "loanhub.flows.harvest.no_such_name",
        "nowhere.md",
    ]
