#!/usr/bin/env python3
"""Verify an export of loanhub's audit chain: standard library only, no database, no hub.

    python3 verify_audit_export.py EXPORT.jsonl      (the copy written beside every export)
    python -m loanhub.audit_verify EXPORT.jsonl      (this file, where loanhub is installed)

Exit 0 and one summary line when every check holds; exit 1 and the first failure otherwise.
This file imports nothing but the standard library on purpose: a regulator or an auditor runs
it on their own machine, from the export bundle, and can read all of it. The algorithm is
written out in docs/audit-export.md, so that anyone may also write their own.

The export (JSON Lines, UTF-8) is one header line, one line per event, and one seal line:

- header: ``{"format": "loanhub-audit-export", "version": 1, "scope": ..., "contiguous": ...,
  "count", "first_seq", "last_seq", "prev_hash", "head_hash", "as_of": {"seq", "hash"},
  "manifest_sha256", "seal_seq", ...}``;
- event: ``{"event": {seq, actor, action, subject, before, after, host, ip, occurred_at,
  prev_hash, hash}, "next": {"seq", "prev_hash", "hash"} | null}``: ``next`` is the link of
  the event that followed it in the chain (null: it was the chain's newest event);
- seal: ``{"seal": <event>}``: the ``audit.exported`` event the hub appended to its own chain
  when it wrote the export; its ``after`` names the scope, the count and the manifest.

What is checked, in order, and why:

1. every event's hash is the SHA-256 of its canonical JSON (every field but ``hash``, keys
   sorted, no whitespace, UTF-8 unescaped): an edited event fails here;
2. sequence numbers rise strictly (a reordered export fails); in a contiguous export (a date
   range) they rise by one and each event's ``prev_hash`` is the previous event's hash (a
   removed or inserted event fails); the first one's is the header's ``prev_hash``;
3. in any export, two events whose numbers follow each other are linked, and each event's
   ``next`` link points back at it (``next.prev_hash`` is its hash, ``next.seq`` its number
   plus one; when that next event is in the file too, its hash is ``next.hash``): an
   application's events are not contiguous, so each carries its neighbour's link instead;
4. count, first and last number and head hash are the header's; the manifest (SHA-256 over
   ``"<seq>:<hash>\\n"`` of the events in file order) is the header's and the seal's;
5. the seal is a valid event appended after the export was read (``seal.seq`` > ``as_of``),
   naming the same count and manifest: an event removed from an application's export, header
   fixed up, still fails here, because the seal is a link of the hub's chain itself.

What it cannot check alone: that the bank's chain really has these hashes. Compare the seal's
hash (printed) or ``as_of.hash`` with the head the bank anchors outside its store
(``loanhub audit verify`` prints it), or with a later export that contains the seal's event.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "loanhub-audit-export"
VERSION = 1
GENESIS_HASH = "0" * 64
EVENT_FIELDS = (
    "seq",
    "actor",
    "action",
    "subject",
    "before",
    "after",
    "host",
    "ip",
    "occurred_at",
    "prev_hash",
    "hash",
)
SEAL_ACTION = "audit.exported"


class ExportBroken(ValueError):
    """The first check that failed, with the line it failed on."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


@dataclass
class ExportReport:
    """What a verification found: the scope, the events checked and the seal to anchor."""

    scope: dict[str, Any]
    count: int
    first_seq: int | None
    last_seq: int | None
    seal_seq: int
    seal_hash: str
    as_of: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        span = f"seq {self.first_seq}..{self.last_seq}" if self.count else "no events"
        return (
            f"export verified: {self.count} event(s), {span}, scope {describe(self.scope)}; "
            f"sealed by event {self.seal_seq} {self.seal_hash} (compare it with the bank's "
            "anchored head or a later export)"
        )


def describe(scope: dict[str, Any]) -> str:
    if scope.get("kind") == "application":
        return f"application {scope.get('application')}"
    return f"{scope.get('from')}..{scope.get('to')} ({scope.get('time_zone')})"


def canonical(value: Any) -> bytes:
    """The serialisation the hub hashes: sorted keys, no whitespace, UTF-8 unescaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in event.items() if k != "hash"})).hexdigest()


def manifest_line(event: dict[str, Any]) -> bytes:
    return f"{event['seq']}:{event['hash']}\n".encode("ascii")


def ungroup(value: Any) -> str:
    """A hash the hub wrote into an audit event in groups of eight (``1a2b3c4d-...``), so that
    the masking of personal data can never mistake a run of its digits for a phone number."""
    return str(value).replace("-", "")


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("r", encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                raise ExportBroken(number, "empty line")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ExportBroken(number, f"not JSON ({exc.msg})") from None
            if not isinstance(value, dict):
                raise ExportBroken(number, "not a JSON object")
            yield number, value


def _checked_event(number: int, event: Any, what: str = "event") -> dict[str, Any]:
    if not isinstance(event, dict) or sorted(event) != sorted(EVENT_FIELDS):
        raise ExportBroken(number, f"the {what} does not have exactly the fields of an event")
    if not isinstance(event["seq"], int) or event["seq"] < 1:
        raise ExportBroken(number, f"the {what}'s seq is not a positive integer")
    if event_hash(event) != event["hash"]:
        raise ExportBroken(
            number, f"{what} {event['seq']}: content does not match its hash (altered)"
        )
    return event


def verify_export(path: Path) -> ExportReport:
    """Run every check above over the file at ``path``; raises ``ExportBroken`` at the first
    that fails."""
    lines = _lines(path)
    try:
        number, header = next(lines)
    except StopIteration:
        raise ExportBroken(1, "the file is empty") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ExportBroken(number, f"not a {FORMAT} version {VERSION} header")
    contiguous = header.get("contiguous") is True
    as_of = header.get("as_of") or {}
    manifest = hashlib.sha256()
    events: list[dict[str, Any]] = []
    expected_next: dict[str, Any] | None = None  # the link the previous event said follows it
    seal: dict[str, Any] | None = None
    seal_line = 0
    for number, line in lines:
        if seal is not None:
            raise ExportBroken(number, "a line after the seal")
        if "seal" in line:
            seal, seal_line = _checked_event(number, line["seal"], "seal"), number
            continue
        if sorted(line) != ["event", "next"]:
            raise ExportBroken(number, "neither an event line nor the seal")
        event = _checked_event(number, line["event"])
        seq = event["seq"]
        previous = events[-1] if events else None
        if previous is None:
            if event["prev_hash"] != header.get("prev_hash"):
                raise ExportBroken(number, f"event {seq}: prev_hash is not the header's")
        else:
            if seq <= previous["seq"]:
                raise ExportBroken(
                    number, f"event {seq} after event {previous['seq']}: out of order"
                )
            if contiguous and seq != previous["seq"] + 1:
                raise ExportBroken(
                    number, f"event {previous['seq'] + 1} is missing (next is {seq})"
                )
            if seq == previous["seq"] + 1 and event["prev_hash"] != previous["hash"]:
                raise ExportBroken(number, f"event {seq}: prev_hash is not event {seq - 1}'s hash")
        named = expected_next or {}
        if named.get("seq") == seq and named.get("hash") != event["hash"]:
            raise ExportBroken(number, f"event {seq} is not the one its predecessor named")
        link = line["next"]
        if link is None:
            if seq != as_of.get("seq"):
                raise ExportBroken(number, f"event {seq} has no successor but is not the head")
        elif (
            not isinstance(link, dict)
            or link.get("seq") != seq + 1
            or link.get("prev_hash") != event["hash"]
        ):
            raise ExportBroken(number, f"event {seq}: its successor's link does not point to it")
        expected_next = link
        manifest.update(manifest_line(event))
        events.append(event)
    end = seal_line or (number + 1)
    if seal is None:
        raise ExportBroken(end, "no seal: the export is truncated")
    if len(events) != header.get("count"):
        raise ExportBroken(end, f"{len(events)} event(s), the header says {header.get('count')}")
    first = events[0] if events else None
    last = events[-1] if events else None
    if (first and first["seq"]) != header.get("first_seq") or (last and last["seq"]) != header.get(
        "last_seq"
    ):
        raise ExportBroken(end, "first or last seq is not the header's")
    head = last["hash"] if last else header.get("prev_hash")
    if head != header.get("head_hash"):
        raise ExportBroken(end, "the last event's hash is not the header's head_hash")
    digest = manifest.hexdigest()
    if digest != header.get("manifest_sha256"):
        raise ExportBroken(end, "the events are not the ones the header's manifest lists")
    after = seal.get("after") or {}
    if seal["action"] != SEAL_ACTION or seal["seq"] != header.get("seal_seq"):
        raise ExportBroken(seal_line, "the seal is not the export's audit.exported event")
    if not isinstance(as_of.get("seq"), int) or seal["seq"] <= as_of["seq"]:
        raise ExportBroken(seal_line, "the seal does not follow the chain the export read")
    if ungroup(after.get("manifest_sha256")) != digest or after.get("count") != len(events):
        raise ExportBroken(seal_line, "the seal names other events than the file holds")
    if after.get("as_of_seq") != as_of.get("seq"):
        raise ExportBroken(seal_line, "the seal names another chain head than the header")
    return ExportReport(
        scope=header.get("scope") or {},
        count=len(events),
        first_seq=first["seq"] if first else None,
        last_seq=last["seq"] if last else None,
        seal_seq=seal["seq"],
        seal_hash=seal["hash"],
        as_of=as_of,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: verify_audit_export.py EXPORT.jsonl", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        report = verify_export(path)
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ExportBroken as exc:
        print(f"export BROKEN at {exc}")
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
