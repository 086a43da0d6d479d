"""Every command group is registered however the CLI is started: ``loanhub``,
``python -m loanhub`` and ``python -m loanhub.cli`` list the same complete set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main

from loanhub.cli import app

GROUPS = {
    "db": {"upgrade", "grant", "current"},
    "sim": {"up", "status", "down"},
    "extract": {"check", "load", "reconcile"},
    "mapping": {"check"},
    "audit": {"verify", "anchor", "export", "verify-export"},
    "id": {"check"},
    "evidence": {"list", "purge"},
    "bot": {"history"},
    "blacklist": {"add", "lift", "list"},
    "dashboard-user": {"add", "remove", "list"},
    "endpoints": {"write", "check"},
    "calls": {"purge"},
    "items": {"check", "list", "release", "close", "reopen", "read", "settle"},
    "files": {"list", "retake"},
    "quarantine": {"list", "reprocess"},
    "payments": {"list", "repay", "payee"},
    "archive": {"run", "list", "verify"},
    "retention": {"purge"},
}
COMMANDS = {"harvest", "reviews", "airflow-pools", "dashboard", "settle", "case"}
ENTRY_POINT = Path(sys.executable).with_name("loanhub")


def listed(help_text: str) -> set[str]:
    """The names in the help's Commands panel (continuation lines of a description start
    with blanks, so only a name opens a line)."""
    _, _, panel = help_text.partition("Commands")
    panel = panel.split("╰", 1)[0]
    return set(re.findall(r"^│ ([a-z][a-z-]*) ", panel, re.M))


def test_the_app_holds_every_group_and_command() -> None:
    root = typer.main.get_command(app)
    assert set(root.commands) == set(GROUPS) | COMMANDS
    for name, commands in GROUPS.items():
        assert set(root.commands[name].commands) == commands, name
    assert "demo" not in root.commands  # devtools.intake_demo now


def test_every_way_of_starting_lists_the_same_complete_set() -> None:
    expected = set(typer.main.get_command(app).commands)
    assert expected == set(GROUPS) | COMMANDS
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    starts = {
        "loanhub": [str(ENTRY_POINT), "--help"],
        "python -m loanhub": [sys.executable, "-m", "loanhub", "--help"],
        "python -m loanhub.cli": [sys.executable, "-m", "loanhub.cli", "--help"],
    }
    running = {
        how: subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for how, argv in starts.items()
    }
    for how, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, (how, err)
        assert listed(out) == expected, how


def test_the_help_parser_sees_a_missing_command() -> None:
    """``listed`` must be able to fail: a panel without ``calls`` is not the full set."""
    panel = "╭─ Commands ─╮\n│ db     The hub's store. │\n│        more words       │\n╰──╯\n"
    assert listed(panel) == {"db"}
