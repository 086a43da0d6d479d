"""Masking of personal data in everything the hub writes for people to read.

One table (``MASK_RULES``) says what each kind of value keeps visible; every function below
applies it. Logs, audit events and quarantine records go through ``mask_text`` / the logging
filter, so a resident ID never reaches a log file, a dashboard or an e-mail in clear.

The layers below the hub never need it: they return refused values to the hub, which masks
them as it stores them (``loanhub.platform.quarantine``) or logs them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.identifiers import luhn_ok

__all__ = [
    "MASK_CHAR",
    "MASK_RULES",
    "KnownNames",
    "MaskedLogRecord",
    "MaskingFilter",
    "install_log_masking",
    "known_names",
    "mask_card",
    "mask_id",
    "mask_name",
    "mask_phone",
    "mask_record",
    "mask_text",
    "mask_value",
]

MASK_CHAR = "*"


@dataclass(frozen=True)
class MaskRule:
    """How many characters stay visible at each end of a value."""

    keep_head: int
    keep_tail: int


MASK_RULES: dict[str, MaskRule] = {
    "resident_id": MaskRule(keep_head=1, keep_tail=1),
    "card": MaskRule(keep_head=6, keep_tail=4),
    "phone": MaskRule(keep_head=3, keep_tail=4),
    # A name keeps its surname (one or two characters); see mask_name.
}

# Two-character surnames (复姓) that must stay whole when a name is masked.
_COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "令狐",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "轩辕",
        "呼延",
        "万俟",
        "闻人",
        "东郭",
        "百里",
        "申屠",
        "澹台",
        "公冶",
        "太史",
        "拓跋",
        "钟离",
    }
)


def _apply(value: str, rule: MaskRule) -> str:
    n = len(value)
    if n <= rule.keep_head + rule.keep_tail:
        return MASK_CHAR * n
    tail = value[n - rule.keep_tail :] if rule.keep_tail else ""
    return value[: rule.keep_head] + MASK_CHAR * (n - rule.keep_head - rule.keep_tail) + tail


def mask_id(value: str) -> str:
    """Resident ID: first and last character stay, the rest is starred."""
    return _apply(value, MASK_RULES["resident_id"])


def mask_card(value: str) -> str:
    """Bank card number: the issuer prefix (6) and last 4 digits stay, as on a receipt."""
    return _apply(value, MASK_RULES["card"])


def mask_phone(value: str) -> str:
    """Mobile number: the carrier prefix (3) and the last 4 digits stay."""
    return _apply(value, MASK_RULES["phone"])


def surname_length(name: str) -> int:
    """1 for most Chinese names, 2 for a compound surname such as 欧阳."""
    return 2 if name[:2] in _COMPOUND_SURNAMES and len(name) > 2 else 1


def mask_name(value: str) -> str:
    """A person's name keeps its surname only: 张三丰 -> 张**, 欧阳娜娜 -> 欧阳**."""
    name = value.strip()
    if not name:
        return name
    if len(name) == 1:
        return MASK_CHAR
    keep = surname_length(name)
    return name[:keep] + MASK_CHAR * (len(name) - keep)


def mask_value(kind: str, value: str) -> str:
    """Mask a value whose kind is known (``resident_id``, ``card``, ``phone``, ``name``)."""
    if kind == "name":
        return mask_name(value)
    return _apply(value, MASK_RULES[kind])


class KnownNames:
    """Names the hub has seen in this process; ``mask_text`` masks them wherever they appear.

    Names carry no checksum, so free text can only be searched for names the hub already
    knows (applicants it loaded). Thread-safe, because Airflow tasks log from threads too.
    """

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *names: str) -> None:
        with self._lock:
            new = {n.strip() for n in names if n and len(n.strip()) >= 2}
            if not new <= self._names:
                self._names |= new
                self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._names.clear()
            self._pattern = None

    def pattern(self, extra: Iterable[str] = ()) -> re.Pattern[str] | None:
        extra = {n.strip() for n in extra if n and len(n.strip()) >= 2}
        with self._lock:
            if extra:
                names = self._names | extra
            elif self._pattern is not None or not self._names:
                return self._pattern
            else:
                names = self._names
            # Longest first, so 欧阳娜娜 wins over a shorter known name inside it.
            compiled = re.compile("|".join(map(re.escape, sorted(names, key=len, reverse=True))))
            if not extra:
                self._pattern = compiled
            return compiled


known_names = KnownNames()
"""The process-wide registry that the logging filter consults."""

# A resident ID: 6-digit region, a plausible birth date, 3 digits, check digit or X; not part of
# a longer run of digits. Masked whether or not its checksum holds: a mistyped ID is still personal.
_RESIDENT_ID = re.compile(
    r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dXx])"
)
_DIGIT_RUN = re.compile(r"(?<!\d)\d{11,19}(?!\d)")
# The ways people write them: cards in groups of four, mobiles as 3-4-4, spaces or dashes.
_GROUPED_CARD = re.compile(r"(?<!\d)(?<!\d[ -])\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{1,3})?(?![\d])")
_GROUPED_MOBILE = re.compile(r"(?<!\d)(?<!\d[ -])1[3-9]\d[ -]\d{4}[ -]\d{4}(?![\d])")
_MOBILE = re.compile(r"^(?P<cc>86)?(?P<number>1[3-9]\d{9})$")


def _mask_grouped(text: str, kind: str) -> str:
    """Mask the digits of ``6222 0212 3456 7890 128`` by the rule, keeping the separators."""
    digits = "".join(c for c in text if c.isdigit())
    if kind == "card" and not luhn_ok(digits):
        return text
    masked = iter(_apply(digits, MASK_RULES[kind]))
    return "".join(next(masked) if c.isdigit() else c for c in text)


def _mask_digit_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if 16 <= len(run) <= 19 and luhn_ok(run):
        return mask_card(run)
    if mobile := _MOBILE.match(run):
        return (mobile["cc"] or "") + mask_phone(mobile["number"])
    return run


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """Mask every resident ID, card number, mobile number and known name in free text.

    Enterprise codes (USCC) are public registrations and stay readable.

    Idempotent: masked output contains nothing the patterns match again, so a message that
    passes through two filters comes out the same.
    """
    if not text:
        return text
    out = _RESIDENT_ID.sub(lambda m: mask_id(m.group(0)), text)
    out = _GROUPED_CARD.sub(lambda m: _mask_grouped(m.group(0), "card"), out)
    out = _GROUPED_MOBILE.sub(lambda m: _mask_grouped(m.group(0), "phone"), out)
    out = _DIGIT_RUN.sub(_mask_digit_run, out)
    pattern = known_names.pattern(names)
    if pattern is not None:
        out = pattern.sub(lambda m: mask_name(m.group(0)), out)
    return out


def mask_structure(value: Any) -> Any:
    """Mask every string inside nested dicts, lists and tuples (audit before/after images)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_structure(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_structure(v) for v in value]
    return value


class MaskedLogRecord(logging.LogRecord):
    """A record whose rendered message is masked, whatever formatter renders it.

    The record keeps its ``msg`` and ``args`` (strings among them masked in place): formatters
    such as uvicorn's access log unpack ``args`` themselves, so emptying them would break every
    library's own formatting. Module level, so records still pickle (queue handlers).
    """

    def getMessage(self) -> str:
        return mask_text(super().getMessage())


_masked_classes: dict[type[logging.LogRecord], type[logging.LogRecord]] = {
    logging.LogRecord: MaskedLogRecord
}


def _masked_class(cls: type[logging.LogRecord]) -> type[logging.LogRecord]:
    """The masked twin of a record class another library installed (its own fields kept)."""
    if issubclass(cls, MaskedLogRecord):
        return cls
    twin = _masked_classes.get(cls)
    if twin is None:
        twin = _masked_classes[cls] = type(f"Masked{cls.__name__}", (MaskedLogRecord, cls), {})
    return twin


def _masked_arg(value: Any) -> Any:
    return mask_text(value) if isinstance(value, str) else value


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record without changing its shape: string ``msg`` and string arguments masked
    in place (a tuple stays a tuple of the same length, a mapping keeps its keys), the
    rendered message masked by the record's class, exception and stack text masked. Never
    drops a record; idempotent."""
    if getattr(record, "_loanhub_masked", False):
        return record
    if isinstance(record.msg, str):
        record.msg = mask_text(record.msg)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_masked_arg(a) for a in args)
    elif isinstance(args, Mapping):
        record.args = {k: _masked_arg(v) for k, v in args.items()}
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    try:
        record.__class__ = _masked_class(type(record))
    except TypeError:  # a record class with an incompatible layout: mask the message now
        record.msg, record.args = mask_text(record.getMessage()), None
    record._loanhub_masked = True
    return record


class MaskingFilter(logging.Filter):
    """A logging filter that masks each record (``mask_record``). Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def mask_event_dict(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every string in the event (message, arguments, fields) masked."""
    masked = {}
    for key, value in event_dict.items():
        if isinstance(value, tuple):
            masked[key] = tuple(mask_structure(list(value)))
        elif isinstance(value, str | list | dict):
            masked[key] = mask_structure(value)
        else:
            masked[key] = value
    return masked


_installed_lock = threading.Lock()
_factory_installed = False


def _install_in_structlog() -> None:
    """Put ``mask_event_dict`` just before structlog's renderer, for loggers cached already too.

    Airflow 3 configures structlog for task logs before a DAG file is imported, and its
    loggers cache the processor list on first use. structlog hands every logger the same list
    object, so inserting into it reaches the loggers that exist already.
    """
    try:
        import structlog
    except ImportError:  # structlog is not in every process the hub runs in
        return
    processors = structlog.get_config()["processors"]
    if mask_event_dict not in processors:
        processors.insert(max(0, len(processors) - 1), mask_event_dict)


def install_log_masking() -> None:
    """Mask every log record in this process: stdlib records at creation, structlog events
    before rendering. Call it at process start (CLI) and at DAG import (task processes).

    A filter on a logger does not see records that its children propagate, so the stdlib side
    wraps the record factory, the one place every record passes through; Airflow's own task
    logs go through structlog, whose processor chain gets the same rules. Idempotent.
    """
    global _factory_installed
    with _installed_lock:
        _install_in_structlog()
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return mask_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _factory_installed = True
