"""Every command, given what a careless user or a broken deployment gives it, answers with one
line and a non-zero exit, never a traceback (``loanhub.cli.errors``).

The walk reads the commands from Typer's click tree, so a command added later is walked too:
with a store URL that is not one, and with a store that does not answer (PostgreSQL on a
closed port), Airflow's API down and no endpoints file. A command that never opens the store
is listed in ``NO_STORE`` with a bad input of its own.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner, Result

from loanhub.cli import app
from loanhub.cli.errors import describe

runner = CliRunner()
VALID_ID = "11010519491231002X"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DOWN_STORE = f"postgresql://postgres@127.0.0.1:{_closed_port()}/loanhub"
BAD_URLS = (
    "postgresql://postgres@127.0.0.1:notaport/x",
    "mysql+nodriver://x@y/z",
    "no url at all",
    "sqlite:////proc/no-such-dir/loanhub.db",  # a folder that cannot be made
)


def leaves() -> Iterator[tuple[tuple[str, ...], object]]:
    """(path, command) for every command of the tree."""

    def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], object]]:
        children = getattr(command, "commands", None)
        if children is None:
            yield path, command
            return
        for name, child in sorted(children.items()):
            yield from walk(child, (*path, name))

    yield from walk(typer.main.get_command(app), ())


def _value(name: str, tmp: Path) -> str:
    """A well-formed value for a required parameter, so the command reaches its store."""
    if "id_number" in name:
        return VALID_ID
    if name in {"path", "file"}:
        return str(tmp / "input.dat")
    return {
        "date": "2024-01-02",
        "business_date": "2024-01-02",
        "out": str(tmp / "out.jsonl"),
        "outcome": "done",
        "by": "ops1",
        "operator": "ops1",
        "account": "6222020000000000001",
        "note": "checked",
        "reason": "a reason",
        "password": "Long-enough-9pass",
        "kind": "payment",
    }.get(name, "X1")


def argv_for(command: object, tmp: Path, url: str | None) -> list[str]:
    """The required arguments and options filled in, and ``--url`` when the command has it."""
    args: list[str] = []
    for p in command.params:  # type: ignore[attr-defined]
        if p.param_type_name == "argument":
            if p.required:
                args.append(_value(p.name, tmp))
        elif p.name == "url" and url is not None:
            args += ["--url", url]
        elif p.required or p.name == "password":
            args += [p.opts[0], _value(p.name, tmp)]
    return args


# A command that never opens the store: (its bad input, extra environment, what it must say).
NO_STORE: dict[tuple[str, ...], tuple[list[str], dict[str, str], str]] = {
    ("id", "check"): (["12345"], {}, "not an identifier"),
    ("airflow-pools",): ([], {"LOANHUB_ORCHESTRATION__POOLS": "{not json"}, "settings refused"),
    ("extract", "check"): (["{dir}"], {}, "is a directory"),
    ("mapping", "check"): (["bureau_personal", "{dir}"], {}, "is a directory"),
    ("audit", "verify-export"): (["{latin1}"], {}, "not UTF-8"),
    ("endpoints", "write"): ([], {}, "endpoints refused"),
    ("endpoints", "check"): ([], {}, "no endpoints file"),
    ("evidence", "list"): ([], {"LOANHUB_ACTOR": "ops1\nforged line"}, "LOANHUB_ACTOR refused"),
    ("dashboard-user", "list"): ([], {"LOANHUB_DASHBOARD__USERS_FILE": "{badjson}"}, "JSON"),
    ("dashboard-user", "remove"): (["bob"], {"LOANHUB_DASHBOARD__USERS_FILE": "{badjson}"}, "JSON"),
    # the simulators are a process of their own (its output is not the hub's): the settings
    ("sim", "status"): ([], {"LOANHUB_ACTOR": "x" * 65}, "65 characters"),
    ("sim", "down"): ([], {"LOANHUB_ACTOR": "\u202eops"}, "U+202E"),
    ("sim", "up"): (["--seed", "x"], {}, "--seed"),
    ("dashboard",): (["--port", "0"], {}, "--port"),
}


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Everything the hub leans on, down or missing."""
    (tmp_path / "input.dat").write_bytes(b"H" * 10)
    (tmp_path / "adir").mkdir()
    (tmp_path / "latin1.jsonl").write_bytes('{"a": "caf\xe9"}\n'.encode("latin-1"))
    (tmp_path / "bad.json").write_text('{"bob": ')
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOANHUB_SIM_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("LOANHUB_AIRFLOW_API__URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("LOANHUB_DATABASE_URL", DOWN_STORE)
    for name in ("BUREAU", "CORE", "SFTP", "SMTP", "SS_PORTAL", "LOS"):
        monkeypatch.delenv(f"LOANHUB_ENDPOINT_{name}", raising=False)
    return tmp_path


def _filled(text: str, tmp: Path) -> str:
    for name, path in {
        "{dir}": tmp / "adir",
        "{latin1}": tmp / "latin1.jsonl",
        "{badjson}": tmp / "bad.json",
    }.items():
        text = text.replace(name, str(path))
    return text


def assert_one_line(result: Result, argv: list[str], says: str = "") -> None:
    """Refused: non-zero, no traceback, no exception escaping, one line (saying ``says``)."""
    shown = f"loanhub {' '.join(argv)}:\n{result.output}"
    assert result.exit_code != 0, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert "Traceback" not in result.output, shown
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    assert says.lower() in lines[0].lower(), shown


STORE_COMMANDS = [path for path, _ in leaves() if path not in NO_STORE]


def test_the_walk_finds_every_command() -> None:
    """The walk is the tree (a group forgotten here is walked anyway, with the store down)."""
    assert len(STORE_COMMANDS) + len(NO_STORE) == len(list(leaves()))
    assert set(NO_STORE) <= {path for path, _ in leaves()}
    assert ("items", "release") in STORE_COMMANDS


@pytest.mark.parametrize("path", STORE_COMMANDS, ids=" ".join)
def test_every_command_with_the_store_down_is_one_line(path: tuple[str, ...], broken: Path) -> None:
    command = dict(leaves())[path]
    for url in (None, DOWN_STORE):  # the settings' store, and --url where there is one
        argv = [*path, *argv_for(command, broken, url)]
        assert_one_line(runner.invoke(app, argv), argv)


@pytest.mark.parametrize("bad_url", BAD_URLS)
@pytest.mark.parametrize("path", STORE_COMMANDS, ids=" ".join)
def test_every_command_with_a_bad_store_url_is_one_line(
    path: tuple[str, ...], bad_url: str, broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATABASE_URL", bad_url)
    command = dict(leaves())[path]
    argv = [*path, *argv_for(command, broken, None)]
    assert_one_line(runner.invoke(app, argv), argv)


@pytest.mark.parametrize("path", sorted(NO_STORE), ids=" ".join)
def test_every_command_without_a_store_refuses_its_bad_input_in_one_line(
    path: tuple[str, ...], broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, env, says = NO_STORE[path]
    for name, value in env.items():
        monkeypatch.setenv(name, _filled(value, broken))
    argv = [*path, *(_filled(a, broken) for a in args)]
    assert_one_line(runner.invoke(app, argv), argv, says)


def test_describe_names_each_kind_in_one_line() -> None:
    """The net under the commands: each kind of failure a command did not foresee."""
    import requests
    import yaml

    with pytest.raises(yaml.YAMLError) as bad_yaml:
        yaml.safe_load("a: [1\n b: 2")
    assert describe(bad_yaml.value)[0].startswith("not valid YAML")
    assert "line 2" in describe(bad_yaml.value)[0]
    with pytest.raises(json.JSONDecodeError) as bad_json:
        json.loads('{"a": ')
    assert describe(bad_json.value)[0] == "not valid JSON: Expecting value at line 1, column 7"
    assert describe(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "cannot use /x: No such file or directory",
        1,
    )
    assert describe(KeyboardInterrupt())[1] == 130
    assert "did not answer" in describe(requests.ConnectionError())[0] or describe(
        requests.ConnectionError()
    )[0].startswith("no answer")
    assert "\n" not in describe(ValueError("two\nlines"))[0]


# -- the attacks one by one ----------------------------------------------------------------


def test_a_store_that_is_down_changes_no_dashboard_user(broken: Path) -> None:
    """The book of users is not written when its audit event cannot be."""
    users = broken / "users.json"
    argv = ["dashboard-user", "add", "bob", "--role", "operator", "--password", "Long-enough-9pass"]
    result = runner.invoke(app, argv, env={"LOANHUB_DASHBOARD__USERS_FILE": str(users)})
    assert_one_line(result, argv, "unavailable")
    assert not users.exists()


def test_a_traceback_only_with_debug(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error nobody foresaw (here: a bug in the ID check) is one line, and with the global
    ``--debug`` the exception itself (Typer's own output then, or the runner's)."""

    def broken_check(value: str) -> str:
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr("loanhub.cli.identifiers.validate_resident_id", broken_check)
    argv = ["id", "check", VALID_ID]
    quiet = runner.invoke(app, argv)
    assert_one_line(quiet, argv, "RuntimeError: a bug (loanhub --debug")
    loud = runner.invoke(app, ["--debug", *argv])
    assert isinstance(loud.exception, RuntimeError)
    monkeypatch.setenv("LOANHUB_DEBUG", "1")
    assert isinstance(runner.invoke(app, argv).exception, RuntimeError)


def test_ctrl_c_is_one_line_and_exit_130(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("loanhub.cli.identifiers.validate_resident_id", interrupted)
    result = runner.invoke(app, ["id", "check", VALID_ID])
    assert result.exit_code == 130
    assert_one_line(result, ["id", "check"], "interrupted")


def test_an_unreadable_file_is_one_line(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root every file is readable: the read itself is made to fail as it would."""
    target = broken / "input.dat"

    read_bytes, open_ = Path.read_bytes, Path.open

    def denied(path: Path) -> None:
        if path == target:  # read whole or streamed, as each command reads it
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "read_bytes", lambda self: denied(self) or read_bytes(self))
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: denied(self) or open_(self, *a, **k))
    for argv in (
        ["extract", "check", str(target)],
        ["mapping", "check", "core_accounts", str(target)],
    ):
        assert_one_line(runner.invoke(app, argv), argv, "Permission denied")


@pytest.mark.parametrize(
    "argv",
    [
        ["extract", "reconcile", "--date", "2024-02-30"],
        ["extract", "reconcile", "--date", "yesterday"],
        ["audit", "export", "--out", "x.jsonl", "--from", "2024-13-01", "--to", "2024-12-31"],
        ["audit", "export", "--out", "x.jsonl", "--from", "２０２４-01-01", "--to", "2024-12-31"],
    ],
)
def test_a_bad_date_is_one_line_exit_2(argv: list[str], broken: Path) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert_one_line(result, argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["case", "APP-NOPE"],
        ["archive", "verify", "APP-NOPE"],
        ["archive", "run", "--application", "APP-NOPE"],
        [
            "payments",
            "payee",
            "APP-NOPE",
            "--account",
            "6222020000000000001",
            "--note",
            "n",
            "--operator",
            "ops1",
        ],
        ["items", "release", "los_decision", "APP-NOPE", "--note", "n"],
    ],
)
def test_an_unknown_application_is_one_line(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert_one_line(runner.invoke(app, argv), argv)


# -- actors: what a person types as "who" never reaches the audit chain unchecked ------------

ACTOR_OPTIONS = {"by", "operator", "actor"}
HOSTILE_ACTORS = (
    "ops1\nseq=1 actor=admin action=audit.verified",  # a forged second line
    "ops1\r",
    "\u202eimda",  # shows as "admin" reversed
    "ops\x1b[2Kadmin",  # a terminal escape
    "ops 1",
    "",
    "o" * 65,
    "ops\u200b1",  # a zero-width space: two names that look the same
)


def _actor_commands() -> list[tuple[tuple[str, ...], str]]:
    found = []
    for path, command in leaves():
        for p in command.params:  # type: ignore[attr-defined]
            if p.name in ACTOR_OPTIONS:
                found.append((path, p.opts[0]))
    return found


def test_the_actor_options_are_found() -> None:
    assert (("blacklist", "add"), "--by") in _actor_commands()
    assert (("payments", "repay"), "--operator") in _actor_commands()


@pytest.mark.parametrize("hostile", HOSTILE_ACTORS, ids=repr)
@pytest.mark.parametrize(("path", "option"), _actor_commands(), ids=str)
def test_every_actor_option_refuses_a_forged_name(
    path: tuple[str, ...],
    option: str,
    hostile: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exit 2 before the store is touched: nothing in the audit chain."""
    from sqlalchemy import func, select

    from loanhub.platform.db import make_engine
    from schemas.tables import audit_event

    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    command = dict(leaves())[path]
    argv = [*path, *argv_for(command, tmp_path, None)]
    argv[argv.index(option) + 1] = hostile
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    store = make_engine(f"sqlite:///{(tmp_path / 'loanhub.db').resolve()}")
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_event)).scalar() == 0


@pytest.mark.parametrize("hostile", HOSTILE_ACTORS[:4], ids=repr)
def test_the_settings_actor_and_a_dashboard_user_are_checked_too(
    hostile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    monkeypatch.setenv("LOANHUB_ACTOR", hostile)
    argv = ["audit", "verify"]  # it records its check as LOANHUB_ACTOR
    assert_one_line(runner.invoke(app, argv), argv, "LOANHUB_ACTOR refused")
    monkeypatch.delenv("LOANHUB_ACTOR")
    argv = ["dashboard-user", "add", hostile, "--password", "Long-enough-9pass"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "dashboard-users.json").exists()


def test_a_plain_name_is_taken(sqlite_engine) -> None:
    """The rule can pass: an e-mail-like name goes through to the chain as it is."""
    url = sqlite_engine.url.render_as_string(hide_password=False)
    argv = ["blacklist", "add", VALID_ID, "--reason", "fraud", "--by", "j.doe@bank-1.cn"]
    assert runner.invoke(app, [*argv, "--url", url]).exit_code == 0


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"bureau": ', "Invalid JSON"),
        (b'{"bureau": {"url": 5}}', "refused: bureau.url"),
        (b"\xff\xfe{}", "not UTF-8"),
        (None, "Is a directory"),
    ],
)
@pytest.mark.parametrize("argv", [["endpoints", "check"], ["bot", "history", VALID_ID, "张三"]])
def test_a_broken_endpoints_file_is_one_line(
    argv: list[str], content: bytes | None, says: str, broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = broken / "endpoints.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    monkeypatch.setenv("LOANHUB_ENDPOINTS_FILE", str(path))
    assert_one_line(runner.invoke(app, argv), argv, says)


def test_a_mapping_is_named_never_a_path_to_a_yaml_elsewhere(broken: Path) -> None:
    """``mapping check ../../x`` used to read (and parse) ``x.yaml`` anywhere; a broken YAML
    was a traceback."""
    (broken / "evil.yaml").write_text("a: [1\n b")
    name = "../" * 12 + str(broken / "evil").lstrip("/")
    argv = ["mapping", "check", name, str(broken / "input.dat")]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert_one_line(result, argv, "no mapping")


def test_ctrl_c_in_a_real_process_waiting_on_a_silent_airflow(tmp_path: Path) -> None:
    """A real SIGINT (the process's own, as a terminal sends it) while ``harvest`` waits on
    an Airflow that accepts and never answers: one line, exit 130."""
    import os
    import subprocess
    import sys
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    script = (
        "import os, signal, sys, threading\n"
        "from loanhub.cli import app\n"
        "threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
        "sys.argv = ['loanhub', 'harvest']\n"
        "app()\n"
    )
    env = {
        **os.environ,
        "LOANHUB_AIRFLOW_API__URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
        "LOANHUB_DATA_DIR": str(tmp_path),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        silent.close()
        for conn in held:
            conn.close()
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 130, out
    assert "Traceback" not in out
    assert out.splitlines() == ["interrupted (Ctrl-C): stopped where it was"]


# -- numbers and ids: a 20-digit number, a negative one, 1e9, full-width digits --------------

HOSTILE_NUMBERS = ("99999999999999999999", "-1", "1e9", "１２", "²", "0x10", "")


def _int_options() -> list[tuple[tuple[str, ...], str]]:
    found = []
    for path, command in leaves():
        for p in command.params:  # type: ignore[attr-defined]
            descriptor = getattr(p, "type_descriptor", None)
            annotation = getattr(descriptor, "annotation", None)
            if p.param_type_name == "option" and annotation in (int, int | None):
                found.append((path, p.opts[0]))
    return found


# a good number there starts the simulators (a process of their own): only refusals are tried
STARTS_A_PROCESS = {("sim", "up")}
REFUSED_NUMBERS = ("99999999999999999999", "1e9", "0x10", "")


def test_the_number_options_are_found() -> None:
    assert (("calls", "purge"), "--days") in _int_options()
    assert (("harvest",), "--batch-size") in _int_options()


@pytest.mark.parametrize("value", HOSTILE_NUMBERS, ids=repr)
@pytest.mark.parametrize(
    ("path", "option"), [o for o in _int_options() if o[0] not in STARTS_A_PROCESS], ids=str
)
def test_every_number_option_bounds_what_it_takes(
    path: tuple[str, ...], option: str, value: str, broken: Path
) -> None:
    """Never a crash (an OverflowError in the driver was one); a 20-digit number refused."""
    command = dict(leaves())[path]
    argv = [*path, *argv_for(command, broken, None), option, value]
    result = runner.invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), argv
    assert "Traceback" not in result.output
    if value in REFUSED_NUMBERS:
        assert result.exit_code == 2, (argv, result.output)
        assert_one_line(result, argv)


@pytest.mark.parametrize("value", [*REFUSED_NUMBERS, "-1", "4294967296"], ids=repr)
@pytest.mark.parametrize("option", ["--seed", "--persons", "--enterprises"])
def test_sim_up_refuses_a_number_out_of_range_before_starting(
    option: str, value: str, broken: Path
) -> None:
    if option != "--seed" and value == "4294967296":
        value = "100001"
    argv = ["sim", "up", option, value]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert_one_line(result, argv)
    assert not (broken / "nowhere").exists()  # nothing started


@pytest.mark.parametrize(
    "key", ["#99999999999999999999", "#-1", "#²", "#１２", "#1e9", "#", "#0x1"], ids=repr
)
@pytest.mark.parametrize("command", ["release", "close", "reopen"])
def test_an_item_id_out_of_range_or_not_ascii_is_no_item(
    command: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    argv = ["items", command, "payment", key, "--note", "n"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert_one_line(result, argv, "no work item")


def test_a_logged_exception_is_one_line_too(tmp_path: Path) -> None:
    """A flow that logs ``log.exception`` (``items read`` when a reading fails) wrote its
    traceback to the terminal through the CLI's log handler; now one line, masked."""
    import os
    import subprocess
    import sys

    script = (
        "import logging, sys\n"
        "import loanhub.cli.identifiers as ids\n"
        "def failing(value):\n"
        "    try:\n"
        "        raise ValueError(f'reader broke on {value}\\nsecond line')\n"
        "    except ValueError:\n"
        "        logging.getLogger('loanhub.flows.x').exception('reading failed')\n"
        "        raise\n"
        "ids.validate_resident_id = failing\n"
        "from loanhub.cli import app\n"
        f"sys.argv = ['loanhub', *sys.argv[1:], 'id', 'check', '{VALID_ID}']\n"
        "app()\n"
    )
    env = {**os.environ, "LOANHUB_DATA_DIR": str(tmp_path)}
    run = [sys.executable, "-c", script]
    quiet = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    out = quiet.stdout + quiet.stderr
    assert quiet.returncode == 1, out
    assert "Traceback" not in out
    assert VALID_ID not in out
    lines = out.strip().splitlines()
    assert len(lines) == 2, out  # the log line, and the error
    assert lines[0].endswith("reading failed (ValueError: reader broke on 1****************X)")
    loud = subprocess.run([*run, "--debug"], env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" in loud.stderr


@pytest.mark.parametrize("role", ["god", "Operator ", "viewer\n", ""])
def test_an_unknown_role_is_one_line_exit_2(role: str, broken: Path) -> None:
    users = broken / "users.json"
    argv = ["dashboard-user", "add", "bob", "--role", role, "--password", "Long-enough-9pass"]
    result = runner.invoke(app, argv, env={"LOANHUB_DASHBOARD__USERS_FILE": str(users)})
    assert result.exit_code == 2, result.output
    assert_one_line(result, argv, "--role")
    assert not users.exists()
