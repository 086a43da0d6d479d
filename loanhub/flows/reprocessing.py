"""Quarantined records reprocessed with the current mapping, after a mapping fix.

A record a mapping refused waits in the quarantine with its reason (``loanhub.platform.
quarantine``). Once the mapping is fixed (a code table, a transform), an operator reprocesses
a source, with a note: the hub maps the source's own copy again with the mapping as its file
is now, and

- a record the current mapping takes is stored, its lineage naming the new mapping version,
  and leaves the quarantine (its rows are stamped, kept as the trail);
- a record that still fails stays quarantined, with the current mapping's reason and version;
- for a file, its receipt is counted again: as many records as before, records in = loaded +
  quarantined, LOADED once nothing is left in quarantine.

Everything of one reprocess is one transaction with its audit event (``quarantine.
reprocessed``). Stored facts are keyed by their business key, so a reprocess never stores a
record twice, and two reprocesses of one source take turns (its quarantine rows are locked).

The source's copy must be the hub's own: a tax answer file as it was kept when taken, a bureau
report's raw bytes in the evidence store (by the hash its inquiry recorded). What the hub keeps
no copy of (screens of the social-security portal, core answers, the LOS intake) is refused:
harvest it again and the current mapping maps it. The core's nightly extract is checked by
its copybook (a contract, not a mapping): a corrected extract is retaken instead
(``loanhub.flows.retakes``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from connectors.tax import parse_answer
from kernel.failures import ContractError
from loanhub.flows.harvest import BUREAU_MAPPING, BUREAU_QUERY, applicants
from loanhub.flows.operator_actions import ActionRefused, BadInput, checked_note
from loanhub.platform import audit
from loanhub.platform.facts import store_mapped
from loanhub.platform.quarantine import open_records, release_rows, requarantine
from loanhub.platform.receipts import FileReceiptBook, recount
from mappings.engine import MappedRecord, Mapping, MappingResult, Refused
from schemas.hub import FileReceipt, QuarantinedRecord, WorkItemState
from schemas.party import PartyKind
from schemas.tables import quarantined_record, work_item

REPROCESSED = {
    "tax": "the tax answer file as the hub kept it when it took it",
    "bureau": "the bureau report's raw bytes in the evidence store",
}
"""The sources whose quarantined records may be reprocessed, and the copy that is mapped."""

NOT_REPROCESSED = {
    "core": (
        "the core's records are checked by the LNREPAY copybook (a contract, not a mapping), "
        "or are answers the hub keeps no copy of: retake a corrected extract, or harvest again"
    ),
    "ss": "the portal's pages are not kept: harvest the application again",
    "intake": "the LOS intake is not kept: the next intake takes the corrected application",
}

RawReader = Callable[[str], bytes]
"""The evidence store's ``get_raw``: a payload as received, by its SHA-256."""


@dataclass(frozen=True)
class Source:
    """What is mapped again: the payload, the mapping's parameters, and its lineage."""

    mapping: str
    payload: Any
    params: dict[str, Any]
    raw_hash: str
    fetched_at: datetime
    receipt: FileReceipt | None = None


@dataclass(frozen=True)
class Reprocessed:
    """What one reprocess did with one source's quarantined records."""

    source_system: str
    source_ref: str
    mapping_version: str
    moved: int  # records stored now, out of the quarantine
    still: int  # records still quarantined, with the current reason
    records_in: int | None = None  # for a file: its records, = loaded + quarantined
    loaded: int | None = None
    quarantined: int | None = None


def why_not(system: str) -> str | None:
    """Why records of ``system`` are not reprocessed; None when they are."""
    if system in REPROCESSED:
        return None
    return NOT_REPROCESSED.get(system, f"the hub keeps no copy of what {system} sent")


def reprocess(
    engine: Engine,
    system: str,
    source_ref: str,
    *,
    actor: str,
    note: str,
    raw: RawReader | None = None,
) -> Reprocessed:
    """Map one source's copy again with the current mapping: quarantined records it takes
    are stored and leave the quarantine, the others keep their (new) reason."""
    note = checked_note(note, "a reprocess")
    reason = why_not(system)
    if reason is not None:
        raise ActionRefused(f"{system} {source_ref}: {reason}")
    with engine.connect() as conn:
        if not _has_open(conn, system, source_ref):
            raise BadInput(f"nothing of {system} {source_ref} is quarantined")
    source = (
        _tax_source(engine, source_ref) if system == "tax" else _bureau(engine, source_ref, raw)
    )
    mapping = Mapping.current(source.mapping)
    result = mapping.map(
        source.payload,
        fetched_at=source.fetched_at,
        raw_payload_hash=source.raw_hash,
        params=source.params,
    )
    mapped = {f"{r.name}#{r.index}": r for records in result.records.values() for r in records}
    refused: dict[str, list[Refused]] = defaultdict(list)
    for r in result.refused:
        refused[f"{r.record}#{r.index}"].append(r)
    with engine.begin() as conn:
        waiting = open_records(conn, system, source_ref)
        if not waiting:
            raise ActionRefused(f"{system} {source_ref}: reprocessed meanwhile: look again")
        # a mapping with child records is stored whole (``_store``), and a child refused with
        # its parent is counted otherwise than the same child mapped (one refusal per parent,
        # one record per month): whatever of the source it does not refuse now is stored. A
        # flat one stores exactly the records it takes; one not in this copy stays as it is.
        whole = bool(mapping.parents())
        moving = {
            ref: rows
            for ref, rows in waiting.items()
            if ref not in refused and (whole or ref in mapped)
        }
        _store(conn, mapping, result, [mapped[ref] for ref in moving if ref in mapped])
        for ref, rows in waiting.items():
            if ref in moving:
                release_rows(conn, rows, actor=actor, mapping_version=mapping.version)
            elif ref in refused:
                requarantine(conn, rows, refused[ref], mapping_version=mapping.version, actor=actor)
        still = len(waiting) - len(moving)
        done = Reprocessed(system, source_ref, mapping.version, len(moving), still)
        if source.receipt is not None:
            receipt = source.receipt
            total = (receipt.records_loaded or 0) + (receipt.records_quarantined or 0)
            recount(conn, receipt, still)
            done = Reprocessed(
                system,
                source_ref,
                mapping.version,
                len(moving),
                still,
                total,
                total - min(still, total),
                min(still, total),
            )
        audit.append(
            conn,
            actor=actor,
            action="quarantine.reprocessed",
            subject=f"{system}:{source_ref}",
            before={
                "quarantined": len(waiting),
                "mapping_versions": sorted(
                    {r.mapping_version or "" for rows in waiting.values() for r in rows}
                ),
            },
            after={
                "mapping_version": mapping.version,
                "moved": done.moved,
                "still_quarantined": done.still,
                "records_in": done.records_in,
                "loaded": done.loaded,
                "note": note,
                "moved_records": sorted(moving)[:200],
            },
        )
    return done


def _has_open(conn: Connection, system: str, source_ref: str) -> bool:
    q = quarantined_record
    return (
        conn.execute(
            select(q.c.id)
            .where(
                q.c.source_system == system,
                q.c.source_ref == source_ref,
                q.c.reprocessed_at.is_(None),
            )
            .limit(1)
        ).first()
        is not None
    )


def _store(
    conn: Connection, mapping: Mapping, result: MappingResult, moving: list[MappedRecord]
) -> None:
    """The records that leave the quarantine, into the store. A mapping without child
    records stores exactly those; one with children (a bureau report's accounts) stores the
    whole answer, whose rows stored before are left as they are (business keys), so that a
    child finds its parent's row."""
    if mapping.parents():
        store_mapped(conn, mapping, result, complete=True)  # what is stored stays as it is
        return
    if not moving:
        return
    chosen: dict[str, list[MappedRecord]] = defaultdict(list)
    for record in moving:
        chosen[record.name].append(MappedRecord(record.name, record.model, None, record.index))
    store_mapped(conn, mapping, MappingResult(records=dict(chosen)))


# -- the sources' own copies -------------------------------------------------------------------

_REPULL = re.compile(r"-R\d{6}$")


def _tax_source(engine: Engine, source_ref: str) -> Source:
    """A tax answer as kept when taken (its newest delivery that was read), with whose each
    request was: the application's applicant (a post-loan re-pull's id has a ``-R<day>``)."""
    if not source_ref.startswith("tax:"):
        raise BadInput(f"{source_ref!r} is not a tax answer (tax:<file name>)")
    name = source_ref.removeprefix("tax:")
    receipt = FileReceiptBook(engine).newest_taken("tax", name)
    if receipt is None or not receipt.kept_at:
        raise ActionRefused(f"{name}: no taken delivery of it is kept")
    try:
        rows = parse_answer(Path(receipt.kept_at).read_bytes())
    except OSError as exc:
        raise ActionRefused(f"{name}: its kept copy cannot be read ({exc.strerror})") from exc
    except ContractError as exc:
        raise ActionRefused(f"{name}: its kept copy is refused: {exc}") from exc
    requests = {str(r.get("request_id", "")).strip() for r in rows}
    numbers = {request: _REPULL.sub("", request) for request in requests if request}
    ids = {a.application_no: a.id_number for a in applicants(engine, sorted(set(numbers.values())))}
    subjects = {request: ids[number] for request, number in numbers.items() if number in ids}
    return Source(
        "tax_answer", rows, {"subjects": subjects}, receipt.sha256, receipt.received_at, receipt
    )


def _bureau(engine: Engine, source_ref: str, raw: RawReader | None) -> Source:
    """A bureau report's raw bytes, found by the inquiry that fetched it (its work item keeps
    the report number and raw hash; the application and reason are its payload)."""
    if not source_ref.startswith("bureau:"):
        raise BadInput(f"{source_ref!r} is not a bureau report (bureau:<report no>)")
    report_no = source_ref.removeprefix("bureau:")
    with engine.connect() as conn:
        rows = conn.execute(
            select(work_item.c.payload, work_item.c.result).where(
                work_item.c.kind == BUREAU_QUERY,
                work_item.c.state == WorkItemState.DONE.value,
            )
        ).all()
    found = [(p, r) for p, r in rows if (r or {}).get("report_no") == report_no]
    if not found or not found[-1][1].get("raw_sha256"):
        raise ActionRefused(f"report {report_no}: no inquiry of the hub fetched it")
    if raw is None:
        raise ActionRefused(f"report {report_no}: the evidence store is not at hand")
    payload, result = found[-1]
    try:
        data = raw(result["raw_sha256"])
    except OSError as exc:
        raise ActionRefused(
            f"report {report_no}: its raw copy is not in the evidence store ({exc.strerror})"
        ) from exc
    kind = (
        PartyKind.ENTERPRISE
        if payload.get("operation") == "QueryEnterpriseReport"
        else PartyKind.PERSON
    )
    return Source(
        BUREAU_MAPPING[kind],
        data,
        {"application_no": payload["application_no"], "reason": payload["reason"]},
        result["raw_sha256"],
        datetime.fromisoformat(result["fetched_at"]),
    )


def open_rows(engine: Engine, system: str, source_ref: str) -> list[QuarantinedRecord]:
    """The rows still quarantined for one source (what the operator sees before)."""
    with engine.connect() as conn:
        return [r for rows in open_records(conn, system, source_ref).values() for r in rows]
