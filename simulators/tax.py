"""The tax authority's batch exchange: reads a request only after its ``.ok`` trigger and
answers later in ``/outbox`` (GB18030, CRLF, trailer with count and arrears sum).

Faults (controls ``tax``): ``early_answer`` (the answer is visible, growing, before its
``.ok``), ``truncated`` (rows missing while the trailer counts them all). A request without a
valid trailer is answered with every row REJECTED. Answers older than the retention period
(7 days) are deleted, as the authority does. Data (controls ``tax.answer.ratings``): a
subject's rating as the authority now has it, ``{id_or_uscc: "A".."D"}``, for a rating that
changed after the loan was granted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from decimal import Decimal
from pathlib import Path

from contracts.tax_files import ANSWER_HEADER, ENCODING, REQUEST_HEADER, REQUEST_NAME, answer_name
from simulators import ids
from simulators.controls import Controls
from simulators.dataset import Dataset, TaxRecord
from simulators.journal import Journal

log = logging.getLogger(__name__)


def parse_request(data: bytes) -> tuple[list[list[str]], str | None]:
    """The request rows, and why the file as a whole is unacceptable (None when it is fine)."""
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        return [], f"not GB18030: {exc}"
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or tuple(lines[0].split(",")) != REQUEST_HEADER:
        return [], "missing or wrong header row"
    rows = [line.split(",") for line in lines[1:]]
    if not rows or not rows[-1] or not rows[-1][0].startswith("TRL|"):
        return [r for r in rows if r and r[0]], "no trailer"
    trailer, rows = rows[-1][0], rows[:-1]
    try:
        count = int(trailer.split("|")[1])
    except (IndexError, ValueError):
        return rows, f"malformed trailer {trailer!r}"
    if count != len(rows):
        return rows, f"trailer counts {count} rows, file has {len(rows)}"
    return rows, None


def _answer_row(
    request: list[str],
    data: Dataset,
    file_problem: str | None,
    ratings: dict[str, str] | None = None,
) -> list[str]:
    blank = [""] * (len(ANSWER_HEADER) - 2)
    if file_problem or len(request) != len(REQUEST_HEADER):
        return [request[0] if request else "", "REJECTED", *blank]
    request_id, kind, subject, name, consent = request
    if not consent or kind not in ("P", "E"):
        return [request_id, "REJECTED", *blank]
    if kind == "P":
        if not ids.resident_id_ok(subject):
            return [request_id, "REJECTED", *blank]
        person = data.person_by_id.get(subject.upper())
        record = person.tax if person and person.name == name else None
    else:
        if not ids.uscc_ok(subject):
            return [request_id, "REJECTED", *blank]
        firm = data.enterprise_by_uscc.get(subject)
        record = firm.tax if firm and firm.name == name else None
    if record is None:
        return [request_id, "NOT_FOUND", *blank]
    facts = _facts(record)
    facts[0] = (ratings or {}).get(subject, facts[0])
    return [request_id, "FOUND", *facts]


def _facts(t: TaxRecord) -> list[str]:
    return [
        t.rating,
        *(f"{v:.2f}" for v in t.revenue),
        *(f"{v:.2f}" for v in t.tax_paid),
        f"{t.arrears_amount:.2f}",
        f"{t.arrears_since:%Y%m%d}" if t.arrears_since else "",
        str(t.penalty_count),
    ]


def answer_bytes(rows: list[list[str]], *, counted_rows: int | None = None) -> bytes:
    arrears = sum((Decimal(r[9]) for r in rows if r[9]), Decimal("0.00"))
    count = len(rows) if counted_rows is None else counted_rows
    lines = [",".join(ANSWER_HEADER), *(",".join(r) for r in rows), f"TRL|{count}|{arrears:.2f}"]
    return ("\r\n".join(lines) + "\r\n").encode(ENCODING)


class TaxAuthority:
    """Polls ``/inbox`` for triggers and answers each request once."""

    def __init__(self, root: Path, dataset: Dataset, controls: Controls, journal: Journal) -> None:
        self.inbox, self.outbox = root / "inbox", root / "outbox"
        self.data = dataset
        self.controls = controls
        self.journal = journal
        self.answered: set[str] = set()

    def _ratings(self) -> dict[str, str]:
        return dict(self.controls.get("tax", "answer", "ratings", {}) or {})

    async def run(self, poll_seconds: float = 0.1) -> None:
        """Poll for triggers; whatever a client left in the folders, the loop keeps going."""
        while True:
            try:
                self.expire_old_answers()
                self.take_requests()
            except Exception:  # a bad file must not stop the authority answering the next one
                log.exception("tax authority: polling failed")
            await asyncio.sleep(poll_seconds)

    def take_requests(self) -> None:
        for trigger in sorted(self.inbox.glob("TAXQ_*.csv.ok")):
            request = trigger.with_suffix("")
            answered = self.outbox / f"{answer_name(request.name)}.ok"
            if request.name in self.answered or answered.exists():
                continue
            self.answered.add(request.name)
            asyncio.get_running_loop().create_task(self.answer(request))

    def expire_old_answers(self) -> None:
        horizon = (
            time.time() - float(self.controls.get("tax", "answer", "retention_days", 7)) * 86400
        )
        # triggers first: nobody may see an answer's .ok while its file is already gone
        for path in sorted(self.outbox.glob("TAXR_*"), key=lambda p: not p.name.endswith(".ok")):
            if path.is_file() and path.stat().st_mtime < horizon:
                path.unlink(missing_ok=True)
                self.journal.record("tax", "answer_expired", file=path.name)

    async def answer(self, request: Path) -> None:
        try:
            await self._answer(request)
        except Exception:
            log.exception("tax authority: could not answer %s", request.name)
            self.journal.record("tax", "error", file=request.name)

    async def _answer(self, request: Path) -> None:
        data = request.read_bytes() if request.is_file() else b""
        rows, problem = parse_request(data)
        if not REQUEST_NAME.match(request.name):
            problem = problem or "file name does not follow TAXQ_<bank>_<YYYYMMDD>_<seq>.csv"
        self.journal.record(
            "tax",
            "request",
            file=request.name,
            rows=len(rows),
            problem=problem,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        await asyncio.sleep(self.controls.seconds("tax", "answer", "answer_delay"))
        answers = [_answer_row(r, self.data, problem, self._ratings()) for r in rows]
        fault = self.controls.fault("tax", "answer")
        body = answer_bytes(answers)
        if fault == "truncated" and answers:
            body = answer_bytes(answers[: max(0, len(answers) - 1)], counted_rows=len(answers))
        target = self.outbox / answer_name(request.name)
        if fault == "early_answer":
            half = len(body) // 2
            target.write_bytes(body[:half])
            await asyncio.sleep(max(0.5, self.controls.seconds("tax", "answer", "answer_delay")))
        target.write_bytes(body)
        if fault == "early_answer":
            await asyncio.sleep(0.5)
        target.with_name(target.name + ".ok").write_bytes(b"")
        self.journal.record(
            "tax",
            "answer",
            file=target.name,
            rows=len(answers),
            fault=fault,
            statuses={
                s: sum(a[1] == s for a in answers) for s in ("FOUND", "NOT_FOUND", "REJECTED")
            },
        )

    def redeliver(self, request_name: str) -> str:
        """Write the answer to ``request_name`` again, whole (after a truncated delivery)."""
        request = self.inbox / request_name
        rows, problem = parse_request(request.read_bytes())
        answers = [_answer_row(r, self.data, problem, self._ratings()) for r in rows]
        target = self.outbox / answer_name(request_name)
        target.write_bytes(answer_bytes(answers))
        target.with_name(target.name + ".ok").write_bytes(b"")
        self.journal.record(
            "tax", "answer", file=target.name, rows=len(answers), fault=None, redelivered=True
        )
        return target.name
