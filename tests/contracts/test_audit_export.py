"""The export's verifier, as a regulator runs it: the copy written beside the export, with the
standard library alone (``python -I -S`` from a folder holding nothing else). An untouched
export verifies; an edited, re-hashed, removed, inserted or reordered event fails, and so does
an application's export with an event removed and its header fixed up (the seal says so)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from contracts.audit_export import ExportBroken, event_hash, manifest_line, verify_export
from loanhub.flows.audit_export import export_application, export_range
from tests.loanhub.auditchain import forge
from tests.loanhub.casebook import add_application, long_ago, person

Line = dict
Edit = Callable[[list[Line]], list[Line]]


def write(path: Path, lines: list[Line]) -> Path:
    path.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    return path


def read(path: Path) -> list[Line]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_shipped(verifier: Path, export: Path, where: Path) -> subprocess.CompletedProcess[str]:
    """The shipped verifier, alone in a folder, on an interpreter with no site-packages."""
    where.mkdir(exist_ok=True)
    alone = shutil.copy(verifier, where / verifier.name)
    copy = shutil.copy(export, where / export.name)
    return subprocess.run(
        [sys.executable, "-I", "-S", str(alone), str(copy)],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def range_export(pg_engine: Engine, tmp_path: Path) -> tuple[Path, Path]:
    start = datetime(2026, 3, 1, 1, tzinfo=UTC)
    forge(
        pg_engine,
        [
            (start + timedelta(hours=i), f"AP{i % 3}", {"i": i, "name": "张*", "rate": 0.0435})
            for i in range(8)
        ],
    )
    shanghai = ZoneInfo("Asia/Shanghai")
    done = export_range(
        pg_engine, date(2026, 3, 1), date(2026, 3, 1), shanghai, tmp_path / "r.jsonl", actor="t"
    )
    return done.path, done.verifier


@pytest.fixture
def application_export(pg_engine: Engine, tmp_path: Path) -> Path:
    add_application(pg_engine, "AP1", person(), status="REJECTED", at=long_ago(5))
    subjects = ["AP0", "AP1", "AP1", "AP2", "AP1", "AP0", "AP0", "AP1", "AP2"]
    forge(pg_engine, [(long_ago(5), s, {"i": i}) for i, s in enumerate(subjects)])
    return export_application(pg_engine, "AP1", tmp_path / "a.jsonl", actor="t").path


def test_an_untouched_export_verifies_with_the_standard_library_alone(
    range_export: tuple[Path, Path], tmp_path: Path
) -> None:
    export, verifier = range_export
    shipped = run_shipped(verifier, export, tmp_path / "regulator")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "export verified: 8 event(s), seq 1..8" in shipped.stdout
    source = verifier.read_text(encoding="utf-8")
    imported = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    hub = subprocess.run(
        [sys.executable, "-m", "loanhub.audit_verify", str(export)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert hub.returncode == 0, hub.stdout + hub.stderr
    assert hub.stdout == shipped.stdout


def _edit_content(lines: list[Line]) -> list[Line]:
    lines[3]["event"]["actor"] = "ops.wang"
    return lines


def _edit_and_rehash(lines: list[Line]) -> list[Line]:
    event = lines[3]["event"]
    event["actor"] = "ops.wang"
    event["hash"] = event_hash(event)
    return lines


def _remove(lines: list[Line]) -> list[Line]:
    del lines[4]
    return lines


def _reorder(lines: list[Line]) -> list[Line]:
    lines[3], lines[4] = lines[4], lines[3]
    return lines


def _drop_the_seal(lines: list[Line]) -> list[Line]:
    return lines[:-1]


def _insert(lines: list[Line]) -> list[Line]:
    copy = json.loads(json.dumps(lines[2]))
    return [*lines[:3], copy, *lines[3:]]


def _remove_and_fix_the_header(lines: list[Line]) -> list[Line]:
    """The careful forger: removes the last event, makes the one before it the head, rewrites
    the header's count, last seq, head hash and manifest to match."""
    del lines[-2]
    header, events = lines[0], [line["event"] for line in lines[1:-1]]
    lines[-2]["next"] = None
    header["as_of"] = {"seq": events[-1]["seq"], "hash": events[-1]["hash"]}
    header.update(
        count=len(events),
        last_seq=events[-1]["seq"],
        head_hash=events[-1]["hash"],
        manifest_sha256=hashlib.sha256(b"".join(manifest_line(e) for e in events)).hexdigest(),
    )
    return lines


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (_edit_content, "content does not match its hash (altered)"),
        (_edit_and_rehash, "event 3 is not the one its predecessor named"),
        (_remove, "is missing"),
        (_insert, "out of order"),
        (_reorder, "event 3 is missing"),
        (_drop_the_seal, "no seal"),
        (_remove_and_fix_the_header, "the seal"),
    ],
)
def test_a_tampered_range_export_fails(
    range_export: tuple[Path, Path], tmp_path: Path, edit: Edit, says: str
) -> None:
    export, verifier = range_export
    forged = write(tmp_path / "forged.jsonl", edit(read(export)))
    with pytest.raises(ExportBroken, match=says.replace("(", r"\(").replace(")", r"\)")):
        verify_export(forged)
    shipped = run_shipped(verifier, forged, tmp_path / "regulator")
    assert shipped.returncode == 1
    assert "export BROKEN at line" in shipped.stdout


def _app_remove_and_fix(lines: list[Line]) -> list[Line]:
    del lines[2]
    header, events = lines[0], [line["event"] for line in lines[1:-1]]
    header.update(
        count=len(events),
        manifest_sha256=hashlib.sha256(b"".join(manifest_line(e) for e in events)).hexdigest(),
    )
    return lines


def _app_rehash_the_seal(lines: list[Line]) -> list[Line]:
    """... and forges the seal too: its hash is no longer the chain's (the next check an
    auditor makes is against the bank's anchor), and here its manifest no longer matches."""
    lines = _app_remove_and_fix(lines)
    seal = lines[-1]["seal"]
    seal["after"]["count"] -= 1
    seal["hash"] = event_hash(seal)
    return lines


def _app_edit(lines: list[Line]) -> list[Line]:
    lines[2]["event"]["after"] = {"i": 99}
    return lines


def _app_reorder(lines: list[Line]) -> list[Line]:
    lines[1], lines[3] = lines[3], lines[1]
    return lines


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (_app_edit, "altered"),
        (_app_reorder, "prev_hash is not the header's"),
        (_app_remove_and_fix, "the seal names other events than the file holds"),
        (_app_rehash_the_seal, "the seal names other events than the file holds"),
    ],
)
def test_a_tampered_application_export_fails(
    application_export: Path, tmp_path: Path, edit: Edit, says: str
) -> None:
    assert verify_export(application_export).count == 4
    forged = write(tmp_path / "forged.jsonl", edit(read(application_export)))
    with pytest.raises(ExportBroken, match=says):
        verify_export(forged)


def test_an_application_event_swapped_for_another_breaks_its_neighbours_link(
    pg_engine: Engine, application_export: Path, tmp_path: Path
) -> None:
    """Each event names its successor's link: replacing the event after one of the
    application's (also exported) by a forged one is caught even with a valid hash."""
    lines = read(application_export)
    assert lines[1]["event"]["seq"] + 1 == lines[2]["event"]["seq"]  # events 2 and 3
    lines[1]["next"]["hash"] = "f" * 64
    forged = write(tmp_path / "forged.jsonl", lines)
    with pytest.raises(ExportBroken, match="event 3 is not the one its predecessor named"):
        verify_export(forged)
    lines = read(application_export)
    lines[3]["next"]["prev_hash"] = "f" * 64  # event 5's successor, not in the file
    with pytest.raises(ExportBroken, match="its successor's link does not point to it"):
        verify_export(write(tmp_path / "forged2.jsonl", lines))
