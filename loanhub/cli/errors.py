"""The CLI's one error handler: whatever goes wrong in a command reaches the person at the
terminal as one red line and a non-zero exit, never as a traceback.

The commands already refuse what they foresee (``common.fail``); this is the net under them,
for what they did not: a file that is missing, a directory or unreadable, a file that is not
UTF-8, JSON or YAML, a store or an Airflow that does not answer, a usage error, Ctrl-C. A
traceback is still there for the one who needs it, behind the global ``--debug`` (or
``LOANHUB_DEBUG=1``): ``loanhub --debug db current``.

The handler sits in the root group's ``main`` (``HubGroup``), so it holds however the CLI is
started (``loanhub``, ``python -m loanhub``, ``CliRunner``) and for every command at once,
including the ones added later.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from typer import _click as click
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit

from loanhub.platform.masking import mask_text

# Exit codes: 1 what failed, 2 bad usage (as click), 130 interrupted (as a shell says it).
FAILED, USAGE, INTERRUPTED = 1, 2, 130
DEBUG_HINT = " (loanhub --debug ... shows the traceback)"


class _State:
    """Whether this run asked for tracebacks: set by the root callback's ``--debug``, read
    after the command's context is gone (the handler runs around it)."""

    debug: bool = False


state = _State()


def debugging() -> bool:
    """``--debug`` given, or ``LOANHUB_DEBUG`` set to a true value."""
    return state.debug or os.environ.get("LOANHUB_DEBUG", "").lower() in {"1", "true", "yes"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _os_error(exc: OSError) -> str:
    """``cannot open PATH: No such file or directory`` (``filename`` is what the call was
    given; ``strerror`` the system's words, without the errno in front)."""
    where = f" {exc.filename}" if exc.filename else ""
    also = f" -> {exc.filename2}" if getattr(exc, "filename2", None) else ""
    reason = exc.strerror or _first_line(exc)
    return f"cannot use{where}{also}: {reason}"


def describe(exc: BaseException) -> tuple[str, int]:
    """One line saying what went wrong, masked (the text may quote a record), and the exit
    code. Ordered from the most particular kind to the most general."""
    import requests
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

    from kernel.failures import LegacyError
    from loanhub.platform.db import StoreUnavailable

    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C): stopped where it was", INTERRUPTED
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start} "
            f"cannot be decoded as {exc.encoding}",
            FAILED,
        )
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", FAILED
    try:
        import yaml

        if isinstance(exc, yaml.YAMLError):
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or _first_line(exc)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            return f"not valid YAML: {problem}{at}", FAILED
    except ImportError:  # pragma: no cover - PyYAML is a dependency of the mappings
        pass
    if isinstance(exc, ValidationError):  # pydantic's text is a paragraph per problem
        errors = exc.errors()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in errors[:3]
        )
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return f"{exc.title} refused: {problems}{more}", FAILED
    if isinstance(exc, StoreUnavailable):
        return _first_line(exc), FAILED
    if isinstance(exc, ArgumentError):  # not echoed: a mistyped URL may hold a password
        return "not a store URL: expected postgresql://user@host/db or sqlite:///path", USAGE
    if isinstance(exc, DBAPIError):
        return f"the store refused or did not answer: {_first_line(exc.orig or exc)}", FAILED
    if isinstance(exc, SQLAlchemyError):
        return f"the store: {_first_line(exc)}", FAILED
    if isinstance(exc, requests.RequestException):
        url = getattr(exc.request, "url", None) if exc.request is not None else None
        where = f" at {url}" if url else ""
        return f"no answer from the system{where}: {type(exc).__name__}", FAILED
    if isinstance(exc, LegacyError):
        return f"{type(exc).__name__}: {_first_line(exc)}", FAILED
    if isinstance(exc, OSError):
        return _os_error(exc), FAILED
    return f"{type(exc).__name__}: {_first_line(exc)}{DEBUG_HINT}", FAILED


def say(message: str) -> None:
    """One red line on stderr, never wrapped (a wrapped line reads as two), markup escaped."""
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[red]{escape(mask_text(message))}[/]")


def _usage(exc: click.ClickException) -> str:
    """A usage error as one line: the command, what is wrong, where the help is."""
    ctx = getattr(exc, "ctx", None)
    message = " ".join(exc.format_message().split())
    if ctx is not None:
        return f"{ctx.command_path}: {message} (see: {ctx.command_path} --help)"
    return message


class OneLineFormatter(logging.Formatter):
    """A log line with an exception is still one line at a terminal: the exception's kind and
    first line, masked, in place of its traceback (``--debug`` keeps the traceback). A flow
    that logs ``log.exception`` for the DAG's task log would otherwise print one here."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[1] is not None and not debugging():
            exc = record.exc_info[1]
            record = copy.copy(record)
            cause = mask_text(f"{type(exc).__name__}: {_first_line(exc)}")
            record.msg, record.args = f"{record.getMessage()} ({cause})", ()
            record.exc_info = record.exc_text = record.stack_info = None
        return super().format(record)


def one_line_logs() -> None:
    """Every handler of the root logger (the CLI's ``basicConfig``) formats with
    ``OneLineFormatter``, keeping its format."""
    for handler in logging.getLogger().handlers:
        if type(handler) is not logging.StreamHandler:  # a test's capture keeps its own
            continue
        current = handler.formatter
        fmt = current._fmt if current is not None else None
        datefmt = current.datefmt if current is not None else None
        handler.setFormatter(OneLineFormatter(fmt, datefmt))


class HubGroup(TyperGroup):
    """The root ``loanhub`` group, whose ``main`` is the one error handler."""

    def invoke(self, ctx: click.Context) -> Any:
        """Ctrl-C said in words (Typer would exit 130 silently)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if debugging():
                raise
            say(describe(KeyboardInterrupt())[0])
            raise Exit(INTERRUPTED) from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command with Typer's own handling off (``standalone_mode=False``) and
        turn what comes out into one line and an exit code; ``--debug`` re-raises."""
        state.debug = False
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except Exit:
            raise
        except click.ClickException as exc:  # usage: a bad option, argument or value
            if not standalone_mode:
                raise
            if type(exc).__name__ != "NoArgsIsHelpError":  # its help is already printed
                say(_usage(exc))
            sys.exit(exc.exit_code)
        except Abort:  # a prompt left with Ctrl-C or Ctrl-D
            if not standalone_mode:
                raise
            say("aborted: nothing was done")
            sys.exit(FAILED)
        except (Exception, KeyboardInterrupt) as exc:
            if debugging() or not standalone_mode:
                raise
            message, code = describe(exc)
            say(message)
            sys.exit(code)
        if not standalone_mode:
            return result
        # Typer (standalone off) returns the code of a ``typer.Exit``; a command returns None
        sys.exit(result if isinstance(result, int) else 0)
