"""A small world for the dashboard tests, stored through the hub's own write paths where it
has one (intake, the call journal, the quarantine, the file receipts), and carrying the
personal data the pages must never show in clear: resident IDs, mobiles and a card number."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, insert, select, update

from devtools.synthetic import applicant_batch
from kernel.calls import CallOutcome, SourceCall
from loanhub.flows.intake import load_applicants
from loanhub.platform.calls import CallJournal
from loanhub.platform.quarantine import quarantine
from loanhub.platform.receipts import FileReceiptBook
from schemas.base import Lineage
from schemas.hub import FileState
from schemas.lending import Decision, Disbursement, EarlyWarning, Loan
from schemas.profile import ApplicantProfile
from schemas.tables import (
    applicant_profile,
    application,
    decision,
    disbursement,
    early_warning,
    fact_row,
    loan,
    work_item,
)

CARD = "6222021234567890128"  # Luhn-valid
MOBILE = "13912345678"


@dataclasses.dataclass
class World:
    now: datetime
    ids: list[str]  # every resident ID in the store
    names: list[str]
    evidence_item: int  # the NEEDS_HUMAN item with a capture on disk
    secrets: list[str]  # values that must never appear in a page


def _lineage(at: datetime, system: str = "hub") -> Lineage:
    return Lineage(
        source_system=system, fetched_at=at, mapping_version="t", raw_payload_hash="0" * 64
    )


def seed(engine: Engine, evidence_root: Path, now: datetime | None = None) -> World:
    now = now or datetime.now(UTC)
    batch = applicant_batch(77, 12, mistyped_every=4)  # mistyped IDs: quarantined
    summary = load_applicants(engine, batch, source_ref="intake-77.json")
    assert sum(summary.quarantined.values()) >= 1
    with engine.connect() as conn:
        taken = set(conn.execute(select(application.c.application_no)).scalars())
    good = [r for r in batch if r["application"]["application_no"] in taken]
    persons = [r["party"] for r in batch if r["party"]["kind"] == "PERSON"]
    ids = [p["id_number"] for p in persons]  # mistyped ones too: still personal
    names = [p["name"] for p in persons]

    # Applications submitted 2 to 30 hours ago; decided, paid and settled at set delays.
    plans = [  # (hours before now submitted, decided_by, outcome, paid, settled)
        (30, "rule:score_auto_approve", "APPROVE", True, True),
        (26, "credit_officer", "APPROVE", True, True),
        (20, "rule:score_auto_approve", "APPROVE", True, False),
        (12, "rule:hard_reject_overdue", "REJECT", False, False),
        (6, "senior_officer", "RETURN", False, False),
    ]
    with engine.begin() as conn:
        for (hours, by, outcome, paid, settled), rec in zip(plans, good, strict=False):
            app_no = rec["application"]["application_no"]
            submitted = now - timedelta(hours=hours)
            profiled = submitted + timedelta(minutes=40)
            decided = profiled + timedelta(hours=2 if by.startswith("rule:") else 5)
            conn.execute(
                update(application)
                .where(application.c.application_no == app_no)
                .values(submitted_at=submitted)
            )
            conn.execute(
                insert(applicant_profile).values(
                    fact_row(
                        ApplicantProfile(
                            application_no=app_no,
                            party_id_number=rec["party"]["id_number"],
                            requested_amount=Decimal(rec["application"]["requested_amount"]),
                            term_months=rec["application"]["term_months"],
                            inputs_hash=f"{hours:064d}",
                            lineage=_lineage(profiled),
                        )
                    )
                )
            )
            conn.execute(
                insert(decision).values(
                    fact_row(
                        Decision(
                            application_no=app_no,
                            outcome=outcome,
                            decided_by=by,
                            decided_at=decided,
                            los_reference=f"SP{hours:08d}",
                            lineage=_lineage(decided),
                        )
                    )
                )
            )
            if paid:
                account = f"LN77{hours:06d}"
                conn.execute(
                    insert(loan).values(
                        fact_row(
                            Loan(
                                loan_account=account,
                                application_no=app_no,
                                customer_no="C77",
                                principal=Decimal("50000"),
                                annual_rate=Decimal("0.0435"),
                                term_months=12,
                                start_date=decided.date(),
                                lineage=_lineage(decided),
                            )
                        )
                    )
                )
                requested = decided + timedelta(minutes=30)
                conn.execute(
                    insert(disbursement).values(
                        fact_row(
                            Disbursement(
                                loan_account=account,
                                tranche=1,
                                amount=Decimal("50000"),
                                creditor_account=CARD,
                                end_to_end_id=f"{account}-1",
                                status="ACSC" if settled else "SENT",
                                requested_at=requested,
                                settled_at=requested + timedelta(hours=1) if settled else None,
                                lineage=_lineage(requested),
                            )
                        )
                    )
                )

        # Warnings: open ones of each severity and class, one acknowledged.
        for key, rule, severity, risk_class, ack in [
            ("dpd1:LN77000030:2026-11", "dpd_threshold", "WATCH", "关注", False),
            ("dpd30:LN77000030:2026-11", "dpd_threshold", "HIGH", "关注", False),
            ("partial:LN77000026:2026-11", "partial_payment", "WATCH", "正常", False),
            ("bureau:LN77000026:2026-11", "overdue_elsewhere", "HIGH", "次级", False),
            ("tax:LN77000020:2026-11", "tax_downgrade", "INFO", None, True),
        ]:
            conn.execute(
                insert(early_warning).values(
                    fact_row(
                        EarlyWarning(
                            warning_key=key,
                            loan_account=key.split(":")[1],
                            rule=rule,
                            severity=severity,
                            message=f"{rule} on {key.split(':')[1]}; call {MOBILE}",
                            raised_at=now - timedelta(hours=3),
                            risk_class=risk_class,
                            acknowledged_at=now - timedelta(hours=1) if ack else None,
                            lineage=_lineage(now - timedelta(hours=3)),
                        )
                    )
                )
            )

    # A bot's capture written before a masking rule existed: the preview masks it on the way.
    capture = evidence_root / "ss_history" / "abc123" / "20261124T010101000000"
    capture.mkdir(parents=True)
    (capture / "reason.txt").write_text(
        f"kind: ss_history\nkey: {ids[0]}\nreason: ss: unrecognised screen, card {CARD}\n",
        encoding="utf-8",
    )
    (capture / "screen.png").write_bytes(_PNG)
    (capture / "trace.zip").write_bytes(b"unmasked DOM " + ids[0].encode())
    items = [
        ("ss_history", ids[0], "NEEDS_HUMAN", "ss: unrecognised screen"),
        ("payment", "LN77000020-1", "IN_DOUBT", "gateway: upload timed out after send"),
        ("bureau_query", f"{ids[1]}:01:x", "NEEDS_HUMAN", f"bureau: subject {ids[1]} locked"),
        ("bureau_query", f"{ids[2]}:01:x", "DONE", None),
        ("bureau_query", f"{ids[3]}:01:x", "DONE", None),
        ("los_decision", "SP00000030", "FAILED", "los: refused"),
    ]
    with engine.begin() as conn:
        made = []
        for n, (kind, key, state, error) in enumerate(items):
            made.append(
                conn.execute(
                    insert(work_item)
                    .values(
                        kind=kind,
                        business_key=key,
                        payload={"id_number": key},
                        payload_hash="0" * 64,
                        state=state,
                        attempts=1,
                        error=error,
                        evidence=str(capture) if kind == "ss_history" else None,
                        created_at=now - timedelta(hours=5 - n / 2),
                        updated_at=now - timedelta(hours=5 - n / 2),
                    )
                    .returning(work_item.c.id)
                ).scalar_one()
            )

    # Calls: through the journal, as the connectors report them.
    journal = CallJournal(engine)
    calls = [
        ("bureau", "PersonalCreditReport", [120, 180, 250, 900, 1500, 1750, 2100], "ok"),
        ("bureau", "PersonalCreditReport", [60], "business"),
        ("bureau", "PersonalCreditReport", [3000, 3100], "transient"),
        ("core", "GetCustomer", [40, 55, 70], "ok"),
        ("ss", "ss_history", [2900, 4100, 5200], "ok"),
        ("ss", "ss_history", [6100], "needs_human"),
        ("tax", "submit", [310], "ok"),
        ("gateway", "upload /payments/in", [220], "ok"),
        ("gateway", "upload /payments/in", [30000], "in_doubt"),
        ("smtp", "send", [35, 45], "ok"),
    ]
    for system, operation, durations, outcome in calls:
        for i, ms in enumerate(durations):
            journal(
                SourceCall(
                    system=system,
                    operation=operation,
                    started_at=now - timedelta(minutes=50 - i),
                    duration_ms=ms,
                    outcome=CallOutcome(outcome),
                    error=None if outcome == "ok" else f"failed for {ids[4]} {MOBILE}",
                )
            )
    journal(  # outside a 24 h window
        SourceCall(
            system="bureau",
            operation="PersonalCreditReport",
            started_at=now - timedelta(days=3),
            duration_ms=99999,
            outcome=CallOutcome.OK,
        )
    )

    # Files: a loaded extract with a quarantined record, a rejected one, a tax answer.
    receipts = FileReceiptBook(engine)
    for system, name, digest, state, records, detail in [
        ("core", "LNREPAY_20261123.dat", "a" * 64, FileState.PARTIAL, (998, 2), None),
        ("core", "LNREPAY_20261122.dat", "b" * 64, FileState.REJECTED, (0, 0), "trailer count"),
        ("tax", "LHB001_20261124_001.ans", "c" * 64, FileState.LOADED, (10, 0), None),
    ]:
        receipts.record(system, name, digest, 4096)
        receipts.mark(system, name, digest, state, detail, f"/var/kept/{name}", records=records)
    with engine.begin() as conn:
        for n in (17, 523):
            quarantine(
                conn,
                source_system="core",
                source_ref="LNREPAY_20261123.dat",
                record_ref=str(n),
                reason=f"DTL-DUE-DATE: not a date (customer {ids[5]})",
                field_path="DTL-DUE-DATE",
                value=f"LN77{n:06d}#3 {MOBILE}",
            )
    return World(
        now=now,
        ids=ids,
        names=names,
        evidence_item=made[0],
        secrets=[*ids, CARD, MOBILE, *(p["mobile"] for p in persons if p.get("mobile"))],
    )


# A 1x1 PNG.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
