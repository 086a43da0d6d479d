"""What every command group shares: one console, the ``--url`` option, and the two things
nearly every command opens first (the settings and the store).

Both openers answer bad input the way a person at a terminal needs it: one line saying what
is wrong and a non-zero exit, not a traceback (an unknown store URL, a store that does not
answer, a setting that does not parse). A traceback is left for what is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from loanhub.flows.actors import InvalidActor, actor, person
from loanhub.platform.db import StoreUnavailable, check_store, current_revision, make_engine
from loanhub.runtime.settings import HubSettings

# soft_wrap: a message is one line however narrow the terminal (rich would cut it in three at
# 80 columns, and a log collector would keep three lines); tables still fit the width
console = Console(soft_wrap=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="store URL (default: LOANHUB_DATABASE_URL or embedded)")
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as one red line and leave with ``code``.

    The message is escaped: it often quotes what the user typed or what a file holds, which
    is not rich markup.
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    one = "; ".join(lines) or "failed"  # a message quoting a multi-line text stays one line
    console.print(f"[red]{escape(one)}[/]", soft_wrap=True)  # and is never wrapped
    raise typer.Exit(code)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: drivers and parsers append hints and
    background links that bury the reason. A validation error, a file that cannot be read or
    is not UTF-8 or JSON are said as the error handler says them (``errors.describe``)."""
    import json

    from loanhub.cli.errors import describe

    if isinstance(exc, ValidationError | OSError | UnicodeDecodeError | json.JSONDecodeError):
        return describe(exc)[0]
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def settings() -> HubSettings:
    """The hub's settings, or one line naming the setting that does not parse (the actor
    the audit chain names, ``LOANHUB_ACTOR``, included)."""
    try:
        return HubSettings()  # its actor checked by loanhub.flows.actors
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"settings refused: {problems}")
    except ValueError as exc:  # pydantic-settings' SettingsError: a value that is not JSON
        cause = f" ({first_line(exc.__cause__)})" if exc.__cause__ else ""
        fail(f"settings refused: {first_line(exc)}{cause}")


def _shown(url: str) -> str:
    """``url`` fit to print: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparseable URL)"


def engine(url: str | None, *, migrated: bool = False) -> Engine:
    """An engine on the store at ``url`` (default: the settings' store), checked to answer.

    ``migrated``: also require a schema, for commands that read tables without migrating
    first; an empty store then says "run: loanhub db upgrade" rather than "no such table".
    """
    target = url or settings().store_url
    try:  # parsed first: a port that is not a number is a ValueError deep in SQLAlchemy
        make_url(target).port  # noqa: B018 - the parse is the check
    except (ArgumentError, ValueError):  # not echoed: a mistyped URL may hold a password
        fail("not a store URL: expected postgresql://user@host/database or sqlite:///path")
    try:
        store = make_engine(target)
    except NoSuchModuleError:
        fail(
            f"unknown kind of store {make_url(target).drivername!r}: "
            "expected postgresql://... or sqlite:///..."
        )
    except ArgumentError:  # not echoed: a mistyped URL may hold a password
        fail("not a store URL: expected postgresql://user@host/database or sqlite:///path")
    except ImportError as exc:
        fail(f"no driver for the store at {_shown(target)}: {first_line(exc)}")
    except OSError as exc:  # SQLite: the file's folder cannot be made
        fail(f"cannot open the store at {_shown(target)}: {exc.strerror or first_line(exc)}")
    try:
        check_store(store, attempts=1)  # a terminal asks once: the person runs it again
        revision = current_revision(store)
    except StoreUnavailable as exc:
        fail(str(exc))
    except DBAPIError as exc:
        fail(f"cannot open the store at {_shown(target)}: {first_line(exc.orig or exc)}")
    if migrated and revision is None:
        fail(f"the store at {_shown(target)} has no schema yet (run: loanhub db upgrade)")
    return store


def checked_person(value: str | None) -> str | None:
    """An actor option's value (``--by``, ``--operator``) checked before it reaches the audit
    chain (``loanhub.flows.actors``): a usage error otherwise, nothing done."""
    if value is None:
        return None
    try:
        return person(value, "the name")
    except InvalidActor as exc:
        raise typer.BadParameter(str(exc)) from exc


def os_actor() -> str:
    """``cli:<the OS user>``, the actor of what a person does at this terminal; an OS user
    whose name does not fit the rule is refused rather than written as it is."""
    import getpass

    try:
        return actor(f"cli:{getpass.getuser()}")
    except (InvalidActor, KeyError, OSError) as exc:  # getuser: no name for this uid
        fail(f"who runs this? {first_line(exc)}")


T = TypeVar("T")


def operator_action(what: Callable[[], T]) -> T:
    """Run an operator action (``loanhub.flows.operator_actions`` and its kin): a refusal is
    one line, exit 2 for bad input (no note, an unknown item), 1 for what the hub will not do
    now (the item's state, a legacy system that says otherwise)."""
    from loanhub.flows.operator_actions import ActionRefused, BadInput

    try:
        return what()
    except BadInput as exc:
        fail(str(exc), code=2)
    except ActionRefused as exc:
        fail(str(exc))
