"""The tax authority's batch exchange over SFTP.

A request file (GB18030, CRLF, header, ``TRL|<rows>`` trailer) goes to ``/inbox`` with its
``.ok``; the answer appears later in ``/outbox``. ``answered`` asks cheaply whether it is
there (the deferred wait's trigger), ``take_answer`` downloads it, and ``parse_answer``
verifies its trailer: a truncated answer is a ``ContractError``. Receipts, loading once and
waiting past a refused delivery are the flows' (``loanhub.flows.harvest.collect_tax``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from connectors.sftp import SftpConnector, TakenFile
from contracts.tax_files import ANSWER_HEADER, ENCODING, REQUEST_HEADER, answer_name
from kernel.failures import ContractError
from schemas.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc

ANSWERS = "/outbox"  # where the authority writes its answers (and their .ok)


@dataclass(frozen=True)
class TaxQuery:
    request_id: str
    subject_type: str  # P person, E enterprise
    id_or_uscc: str
    name: str
    consent_ref: str


def request_name(bank_code: str, day: date, seq: int) -> str:
    return f"TAXQ_{bank_code}_{day:%Y%m%d}_{seq:03d}.csv"


def request_bytes(queries: list[TaxQuery]) -> bytes:
    """The request file; refuses a bad identifier, a missing consent or a comma in a field."""
    lines = [",".join(REQUEST_HEADER)]
    for q in queries:
        try:
            subject = (
                validate_resident_id(q.id_or_uscc)
                if q.subject_type == "P"
                else validate_uscc(q.id_or_uscc)
                if q.subject_type == "E"
                else None
            )
        except InvalidIdentifier as exc:
            raise ContractError(f"{q.request_id}: {exc}", system="tax") from exc
        if subject is None:
            raise ContractError(f"{q.request_id}: subject type must be P or E", system="tax")
        if not q.consent_ref:
            raise ContractError(f"{q.request_id}: no consent reference", system="tax")
        fields = (q.request_id, q.subject_type, subject, q.name, q.consent_ref)
        if any(c in f for f in fields for c in ",\r\n"):
            raise ContractError(f"{q.request_id}: a field contains a separator", system="tax")
        lines.append(",".join(fields))
    lines.append(f"TRL|{len(queries)}")
    return ("\r\n".join(lines) + "\r\n").encode(ENCODING)


def parse_answer(data: bytes) -> list[dict[str, str]]:
    """The answer's rows, after checking header and trailer (count and arrears sum)."""
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        raise ContractError(f"answer is not GB18030: {exc}", system="tax") from exc
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or tuple(lines[0].split(",")) != ANSWER_HEADER:
        raise ContractError("answer header is missing or different", system="tax")
    if len(lines) < 2 or not lines[-1].startswith("TRL|"):
        raise ContractError("answer has no trailer (truncated?)", system="tax")
    body = [line.split(",") for line in lines[1:-1]]
    if any(len(r) != len(ANSWER_HEADER) for r in body):
        raise ContractError("answer has a row with the wrong number of fields", system="tax")
    rows = [dict(zip(ANSWER_HEADER, r, strict=True)) for r in body]
    try:
        _, count, total = lines[-1].split("|")
        count_n, total_d = int(count), Decimal(total)
        if not total_d.is_finite():
            raise InvalidOperation(f"trailer sum {total!r} is not a number")
        arrears = sum(
            (Decimal(r["arrears_amount"]) for r in rows if r["arrears_amount"]), Decimal("0")
        )
    except (ValueError, InvalidOperation) as exc:
        raise ContractError(f"answer trailer or amounts unreadable: {exc}", system="tax") from exc
    if count_n != len(rows):
        raise ContractError(
            f"truncated answer: trailer counts {count_n} rows, file has {len(rows)}", system="tax"
        )
    if total_d != arrears:
        raise ContractError(
            f"answer arrears sum {arrears} differs from trailer {total_d}", system="tax"
        )
    return rows


class RequestNameTaken(ContractError):
    """The authority already holds a different request under this name (the hub's numbering
    was reset or another system shares the bank code): it answers a name once, so sending
    ours under it would fetch someone else's answer. Take the next number."""


class TaxExchange:
    """Submits requests and takes answers; what is done with an answer (its receipt, loading
    it once, waiting past a refused delivery) is the flows' business."""

    system = "tax"

    def __init__(self, sftp: SftpConnector, local_dir: Path, bank_code: str) -> None:
        self.sftp = sftp
        self.local_dir = local_dir
        self.bank_code = bank_code

    def submit(self, queries: list[TaxQuery], day: date, seq: int) -> str:
        """Upload a request and its trigger; returns the request's file name.

        Atomic as the authority sees it: the file is written aside, its size checked, renamed
        into place, and only then triggered (``SftpSession.upload``), so a dropped connection
        leaves at most our hidden ``.part`` and never a triggered partial file. Idempotent for
        a retry: the same request again under its name replaces a ``.part`` (the upload is
        done once more), triggers a whole file left in place without its ``.ok``, and does
        nothing once the file and its ``.ok`` are there, so the trigger is written once. A name
        the authority holds for other content, or has answered without a request of ours, is
        refused (``RequestNameTaken``)."""
        name = request_name(self.bank_code, day, seq)
        body = request_bytes(queries)
        with self.sftp.session("submit") as session:
            if session.exists(f"/inbox/{name}"):
                held = io.BytesIO()
                session.download(f"/inbox/{name}", held, limit=self.sftp.config.limits.other)
                if held.getvalue() != body:
                    raise RequestNameTaken(f"{name} holds another request", system="tax")
                if not session.exists(f"/inbox/{name}.ok"):
                    session.trigger("/inbox", name)  # the file is whole: only its .ok is missing
            elif session.exists(f"{ANSWERS}/{answer_name(name)}"):
                raise RequestNameTaken(f"{name} was answered already", system="tax")
            else:
                session.upload(io.BytesIO(body), "/inbox", name, trigger=True)
        return name

    def answered(self, request: str, seen: str = "") -> str | None:
        """Which delivery of the answer is there once it has its ``.ok``, unless it is the one
        already ``seen`` (a refused answer is waited past until it is delivered again); None
        before. Two stats, nothing downloaded, so a deferred wait can ask often and cheaply."""
        path = f"{ANSWERS}/{answer_name(request)}"
        with self.sftp.session("answered") as session:
            if not session.exists(f"{path}.ok"):
                return None
            version = session.version(path)
        return version if version is not None and version != seen else None

    def handed_over_at(self, request: str) -> datetime | None:
        """When the authority's inbox got ``request`` (by the server's clock), None if it holds
        no such request: its answer comes after that and is deleted 7 days after it came."""
        with self.sftp.session("request age") as session:
            return session.modified_at(f"/inbox/{request}")

    def take_answer(self, request: str) -> TakenFile | None:
        """Download the answer once it has its ``.ok``; None before. The caller checks it with
        ``parse_answer`` (a truncated answer is a ``ContractError``)."""
        with self.sftp.session("take answer") as session:
            return self.sftp.take(
                session,
                ANSWERS,
                answer_name(request),
                self.local_dir,
                limit=self.sftp.config.limits.tax_answer,
            )
