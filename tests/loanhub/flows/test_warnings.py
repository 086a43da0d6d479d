"""After the loan, on PostgreSQL with the simulators: the night's extract in, days past due and
class hints, warnings raised once, mailed once (masked), escalated when unanswered; a mail in
doubt settled by its resend under the same Message-ID; one mail's trouble never stops another."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.smtp import Notifier, message_id_for
from kernel.failures import FailureKind
from loanhub.flows import repayments, warnings
from loanhub.platform import audit
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors
from schemas.base import Lineage
from schemas.hub import WorkItemState
from schemas.lending import RepaymentInstallment, WarningSeverity
from schemas.tables import audit_event, early_warning, fact_row, repayment_installment
from schemas.types import utcnow
from tests.connectors.test_smtp import SmtpSim


@pytest.mark.parametrize(
    ("dpd", "expected"),
    [
        (0, "正常"),
        (1, "关注"),  # overdue from the first day: at least 关注
        (90, "关注"),
        (91, "次级"),  # more than 90 days
        (270, "次级"),
        (271, "可疑"),  # more than 270 days
        (360, "可疑"),
        (361, "损失"),  # more than 360 days
        (1000, "损失"),
    ],
)
def test_the_class_hint_follows_the_2023_rule_at_each_boundary(dpd, expected):
    policy = HubSettings().warnings
    assert warnings.risk_class(dpd, policy.risk_classes) == expected
    assert "商业银行金融资产风险分类办法" in policy.classification_rule
    assert "2023" in policy.classification_rule


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
    assert sent == {
        "notified": first,
        "escalated": 0,
        "failed": 0,
        "retryable": 0,
        "in_doubt": 0,
        "conflicts": 0,
    }
    assert warnings.pending(sent) is None
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


# -- mails in doubt, and one mail never stopping the others ----------------------------------


@pytest.fixture
def smtp_sim():
    server = SmtpSim()
    yield server
    server.stop()


def _seed_warnings(engine, n: int) -> list[str]:
    state = warnings.LoanState("LN-MAIL-0001", dpd=3, missed=1, partial=0, risk_class="关注")
    found = [
        warnings.warning(
            f"test_{i}:LN-MAIL-{i:04d}:-",
            state,
            "missed_installment",
            WarningSeverity.HIGH,
            f"LN-MAIL-{i:04d} missed 1 installment(s)",
        )
        for i in range(n)
    ]
    assert warnings.store_warnings(engine, found) == n
    return [w.warning_key for w in found]


def _notified(engine) -> dict[str, bool]:
    with engine.connect() as conn:
        rows = conn.execute(select(early_warning.c.warning_key, early_warning.c.notified_at))
        return {k: at is not None for k, at in rows}


def test_a_mail_in_doubt_is_settled_by_sending_it_again_under_its_message_id(
    pg_engine, smtp_sim, tmp_path
):
    """The server kept the mail and the connection dropped before its 250: IN_DOUBT, never
    "sent" nor "not sent". The settle resends it under the same Message-ID: the server then
    holds that message at most twice (receivers drop the copy by its id), the warning is
    marked mailed once, and nothing is sent a third time."""
    policy = HubSettings(data_dir=tmp_path).warnings
    keys = _seed_warnings(pg_engine, 3)
    notifier = Notifier(smtp_sim.config, mask_text)
    ledger = WorkItemLedger(pg_engine, owner="notify")
    guard = LedgerGuard(ledger)

    smtp_sim.fault("drop_after_data")  # the first mail: kept by the server, no 250
    counts = warnings.notify(pg_engine, notifier, policy, utcnow(), guard)
    assert counts["in_doubt"] == 1
    assert counts["notified"] == 2  # the others went out all the same
    assert warnings.pending(counts) is not None  # worth a retry: the next run settles it
    with pytest.raises(warnings.MailsPending):
        warnings.raise_if_pending(counts)
    (doubt,) = ledger.items(state=WorkItemState.IN_DOUBT, kind="warning_mail")
    assert doubt.business_key == keys[0]
    assert _notified(pg_engine)[keys[0]] is False
    mid = message_id_for("warning_mail", keys[0])
    assert [m["message_id"] for m in smtp_sim.mails()].count(mid) == 1

    # the next run does not send it blindly: the notify pass alone leaves it in doubt
    again = warnings.notify(pg_engine, notifier, policy, utcnow(), guard)
    assert again["in_doubt"] == 1
    assert again["notified"] == 0
    assert [m["message_id"] for m in smtp_sim.mails()].count(mid) == 1

    settled = warnings.settle_mails(ledger, notifier, policy)
    assert settled["resent"] == 1
    assert settled["in_doubt"] == 0
    assert ledger.get("warning_mail", keys[0]).state is WorkItemState.DONE
    assert _notified(pg_engine) == dict.fromkeys(keys, True)
    ids = [m["message_id"] for m in smtp_sim.mails()]
    assert ids.count(mid) == 2  # the kept first copy and the resend: the same message
    assert len(set(ids)) == 3  # every warning one Message-ID

    assert warnings.settle_mails(ledger, notifier, policy)["resent"] == 0
    assert warnings.notify(pg_engine, notifier, policy, utcnow(), guard)["notified"] == 0
    assert len(smtp_sim.mails()) == 4

    with pg_engine.connect() as conn:
        actions = list(
            conn.execute(
                select(audit_event.c.action)
                .where(audit_event.c.subject == f"warning_mail:{keys[0]}")
                .order_by(audit_event.c.seq)
            ).scalars()
        )
    assert actions == [
        "work_item.claimed",
        "work_item.in_doubt",
        "work_item.resolved_not_done",
        "work_item.reclaimed",
        "work_item.done",
    ]


def test_a_warning_already_marked_mailed_is_settled_without_a_resend(pg_engine, smtp_sim, tmp_path):
    keys = _seed_warnings(pg_engine, 1)
    ledger = WorkItemLedger(pg_engine, owner="notify")
    item = ledger.claim("warning_mail", keys[0], {"to": ["x@bank.local"]})
    ledger.mark_in_doubt(item, "worker died")
    with pg_engine.begin() as conn:
        conn.execute(early_warning.update().values(notified_at=utcnow()))
    notifier = Notifier(smtp_sim.config, mask_text)
    assert warnings.settle_mails(ledger, notifier)["already"] == 1
    assert smtp_sim.mails() == []
    assert ledger.get("warning_mail", keys[0]).state is WorkItemState.DONE


def test_one_mail_that_fails_conflicts_or_is_in_doubt_never_stops_the_others(
    pg_engine, smtp_sim, tmp_path
):
    policy = HubSettings(data_dir=tmp_path).warnings
    keys = _seed_warnings(pg_engine, 5)
    ledger = WorkItemLedger(pg_engine, owner="notify")
    guard = LedgerGuard(ledger, wait_seconds=0)
    # keys[1]: tried before to other recipients -> a conflict; keys[2]: in doubt from before
    earlier = ledger.claim("warning_mail", keys[1], {"to": ["someone-else@bank.local"]})
    ledger.fail(earlier, FailureKind.TRANSIENT, "earlier attempt")
    doubted = ledger.claim("warning_mail", keys[2], {"to": policy.recipients})
    ledger.mark_in_doubt(doubted, "worker died")
    smtp_sim.fault("drop_before_data")  # keys[0]: the server drops it before DATA: not sent

    notifier = Notifier(smtp_sim.config, mask_text)
    counts = warnings.notify(pg_engine, notifier, policy, utcnow(), guard)
    assert counts == {
        "notified": 2,
        "escalated": 0,
        "failed": 1,
        "retryable": 1,
        "in_doubt": 1,
        "conflicts": 1,
    }
    assert _notified(pg_engine) == {
        keys[0]: False,
        keys[1]: False,
        keys[2]: False,
        keys[3]: True,
        keys[4]: True,
    }
    assert ledger.get("warning_mail", keys[0]).failure_kind is FailureKind.TRANSIENT
    assert "nothing sent" in ledger.get("warning_mail", keys[0]).error
    # the transient one goes out on the next run; the conflict stays for a person
    later = warnings.notify(pg_engine, notifier, policy, utcnow(), guard)
    assert later["notified"] == 1
    assert later["conflicts"] == 1
    assert warnings.pending(later) is not None  # keys[2] is still in doubt until settled


# -- acknowledging, and a rejected extract -----------------------------------------------------


def test_an_acknowledgement_and_its_audit_event_are_one_transaction(pg_engine, monkeypatch):
    (key,) = _seed_warnings(pg_engine, 1)

    def broken(*args, **kwargs):
        raise RuntimeError("the audit chain is unavailable")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(RuntimeError, match="audit chain"):
        warnings.acknowledge(pg_engine, key, actor="dashboard:otto")
    with pg_engine.connect() as conn:
        # the acknowledgement went with the failed audit append: nothing half-done
        assert conn.execute(select(early_warning.c.acknowledged_at)).scalar_one() is None
    monkeypatch.undo()

    assert warnings.acknowledge(pg_engine, key, actor="dashboard:otto")
    assert not warnings.acknowledge(pg_engine, key, actor="dashboard:otto")  # once
    with pg_engine.connect() as conn:
        events = conn.execute(
            select(audit_event.c.actor).where(audit_event.c.action == "warning.acknowledged")
        ).all()
    assert events == [("dashboard:otto",)]
    assert audit.verify(pg_engine).ok


def test_a_rejected_extract_is_a_warning_mailed_once_per_file(pg_engine, smtp_sim, tmp_path):
    from tests.mappings.test_lnrepay import build

    policy = HubSettings(data_dir=tmp_path).warnings
    receipts = FileReceiptBook(pg_engine)
    name = "LNREPAY.D261120"
    counted = repayments.load_extract(pg_engine, build(count=7), name, receipts, tmp_path)
    assert counted.state == "REJECTED"
    again = repayments.load_extract(pg_engine, build(count=7), name, receipts, tmp_path)
    assert again.state == "SKIPPED"  # the same file: taken once, warned once
    hashed = repayments.load_extract(pg_engine, build(hash_total=1), name, receipts, tmp_path)
    assert hashed.state == "REJECTED"  # another file under the name: its own warning
    with pg_engine.connect() as conn:
        raised = conn.execute(
            select(early_warning.c.warning_key, early_warning.c.severity).where(
                early_warning.c.rule == "extract_rejected"
            )
        ).all()
    assert sorted(k for k, _ in raised) == sorted(
        f"extract_rejected:{name}:{r.sha256}"[:80] for r in (counted, hashed)
    )
    assert {s for _, s in raised} == {"HIGH"}

    notifier = Notifier(smtp_sim.config, mask_text)
    guard = LedgerGuard(WorkItemLedger(pg_engine, owner="notify"))
    assert warnings.notify(pg_engine, notifier, policy, utcnow(), guard)["notified"] == 2
    assert warnings.notify(pg_engine, notifier, policy, utcnow(), guard)["notified"] == 0
    mails = smtp_sim.mails()
    assert len(mails) == 2
    assert all(f"extract_rejected {name}" in m["subject"] for m in mails)
    assert any("trailer counts 7 detail records" in m["body"] for m in mails)
