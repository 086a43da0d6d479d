"""After the loan, on PostgreSQL with the simulators: the night's extract in, days past due and
class hints, warnings raised once, mailed once (masked), escalated when unanswered."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from loanhub.flows import repayments, warnings
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors
from schemas.base import Lineage
from schemas.lending import RepaymentInstallment
from schemas.tables import early_warning, fact_row, repayment_installment
from schemas.types import utcnow


def test_risk_class_hint():
    classes = HubSettings().warnings.risk_classes
    assert [warnings.risk_class(d, classes) for d in (0, 1, 90, 91, 181, 400)] == [
        "正常",
        "关注",
        "关注",
        "次级",
        "可疑",
        "损失",
    ]


def test_nightly_sync_raises_warnings_once_and_mails_them_once(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    hub = HubConnectors.build(settings, pg_engine)
    report = repayments.ingest_extract(
        pg_engine,
        hub.extracts,
        FileReceiptBook(pg_engine),
        sim_dataset.business_date,
        tmp_path / "kept",
        "test",
    )
    assert report is not None
    assert report.inserted > 0
    first = warnings.raise_warnings(pg_engine, settings.warnings, sim_dataset.business_date)
    assert first > 0
    assert warnings.raise_warnings(pg_engine, settings.warnings, sim_dataset.business_date) == 0
    with pg_engine.connect() as conn:
        rules = dict(
            conn.execute(
                select(early_warning.c.rule, func.count()).group_by(early_warning.c.rule)
            ).all()
        )
    assert "missed_installment" in rules
    assert "dpd_crossed_1" in rules

    guard = LedgerGuard(WorkItemLedger(pg_engine, owner="notify"))
    sent = warnings.notify(pg_engine, hub.notifier, settings.warnings, utcnow(), guard)
    assert sent == {"notified": first, "escalated": 0}
    assert (
        warnings.notify(pg_engine, hub.notifier, settings.warnings, utcnow(), guard)["notified"]
        == 0
    )
    mails = sim.journal("smtp", "mail")
    assert len(mails) == first

    with pg_engine.connect() as conn:
        keys = list(conn.execute(select(early_warning.c.warning_key)).scalars())
    assert warnings.acknowledge(pg_engine, keys[0])
    later = utcnow() + timedelta(hours=settings.warnings.escalate_after_hours + 1)
    escalated = warnings.notify(pg_engine, hub.notifier, settings.warnings, later, guard)[
        "escalated"
    ]
    assert escalated == first - 1  # the acknowledged one is not escalated
    assert (
        warnings.notify(pg_engine, hub.notifier, settings.warnings, later, guard)["escalated"] == 0
    )

    # a mail sent whose sending was not recorded (the worker died): the retry sends nothing
    with pg_engine.begin() as conn:
        conn.execute(early_warning.update().values(notified_at=None))
    before = len(sim.journal("smtp", "mail"))
    warnings.notify(pg_engine, hub.notifier, settings.warnings, utcnow(), guard)
    assert len(sim.journal("smtp", "mail")) == before


def installment(no: int, due: date, paid: bool) -> dict:
    return fact_row(
        RepaymentInstallment(
            loan_account="LN-EPISODE-0001",
            installment_no=no,
            customer_no="900000000001",
            due_date=due,
            principal_due=Decimal("100.00"),
            interest_due=Decimal("10.00"),
            principal_paid=Decimal("100.00") if paid else Decimal("0"),
            interest_paid=Decimal("10.00") if paid else Decimal("0"),
            paid_date=due if paid else None,
            status="P" if paid else "M",
            lineage=Lineage(
                source_system="core",
                fetched_at=utcnow(),
                mapping_version="test",
                raw_payload_hash="0" * 64,
            ),
        )
    )


def test_a_loan_that_catches_up_and_falls_behind_again_is_warned_again(pg_engine, tmp_path):
    settings = HubSettings(data_dir=tmp_path)

    def rules_raised() -> list[str]:
        with pg_engine.connect() as conn:
            return sorted(
                conn.execute(
                    select(early_warning.c.rule).where(
                        early_warning.c.loan_account == "LN-EPISODE-0001"
                    )
                ).scalars()
            )

    with pg_engine.begin() as conn:
        conn.execute(repayment_installment.insert(), [installment(1, date(2026, 9, 20), False)])
    assert warnings.raise_warnings(pg_engine, settings.warnings, date(2026, 10, 25)) == 3
    assert rules_raised() == ["dpd_crossed_1", "dpd_crossed_30", "missed_installment"]
    # the next nights, still behind: the same episode, nothing new
    assert warnings.raise_warnings(pg_engine, settings.warnings, date(2026, 10, 26)) == 0

    # caught up: installment 1 paid late, installment 2 paid on time; no warning while current
    with pg_engine.begin() as conn:
        conn.execute(repayment_installment.delete())
        conn.execute(
            repayment_installment.insert(),
            [installment(1, date(2026, 9, 20), True), installment(2, date(2026, 10, 20), True)],
        )
    assert warnings.raise_warnings(pg_engine, settings.warnings, date(2026, 11, 1)) == 0

    # behind again on installment 3: a new episode, warned about again (DPD 1 and the miss)
    with pg_engine.begin() as conn:
        conn.execute(repayment_installment.insert(), [installment(3, date(2026, 11, 20), False)])
    assert warnings.raise_warnings(pg_engine, settings.warnings, date(2026, 11, 22)) == 2
    assert rules_raised().count("dpd_crossed_1") == 2
    assert rules_raised().count("missed_installment") == 2
    assert rules_raised().count("dpd_crossed_30") == 1
