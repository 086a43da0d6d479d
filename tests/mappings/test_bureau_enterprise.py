"""The enterprise report mapping (``bureau_enterprise``) on the bureau simulator's own answers:
registered capital, establishment date, facilities with their 24 months (the overdue history),
guarantees given, public records; dates as YYYY.MM.DD, amounts with thousands separators, and
absent values sometimes a missing element and sometimes an empty one."""

from __future__ import annotations

import time

from mappings.engine import Mapping
from tests.mappings.test_engine import run


def enterprise_report(client, firm) -> bytes:
    return client.call(
        "QueryEnterpriseReport",
        idempotent=False,
        uscc=firm.uscc,
        name=firm.name,
        queryReason="01",
        consentRef="C",
        operatorId="t",
        requestRef=f"E{time.time_ns()}",  # the bureau refuses a reference it has seen
    ).raw


def test_every_known_company_maps_whole_with_its_guarantees(sim, bureau, sim_dataset):
    firms = [e for e in sim_dataset.enterprises if e.known_to_bureau]
    assert any(f.guarantees for f in firms)
    assert any(not f.guarantees for f in firms)
    for firm in firms:
        raw = enterprise_report(bureau, firm)
        result = run("bureau_enterprise", raw, application_no="AE1", reason="01")
        assert result.refused == [], (firm.uscc, result.refused)
        (report,) = result.models("report")
        assert report.subject_type == "ENTERPRISE"
        assert report.subject_id_number == firm.uscc
        assert report.registered_capital == firm.registered_capital
        assert report.established_on == firm.established
        assert report.lineage.mapping_version == Mapping.load("bureau_enterprise").version
        facilities = result.models("facility")
        assert [
            (f.account_ref, f.account_type, f.balance, f.overdue_amount) for f in facilities
        ] == [(f.account_no, "FACILITY", f.balance, f.overdue_amount) for f in firm.facilities]
        months = result.models("facility_month")
        assert len(months) == 24 * len(facilities)
        latest = [m.months_overdue for m in months if m.month == max(m.month for m in months)]
        assert max(latest, default=0) == max(
            (int(f.status_24m[-1]) for f in firm.facilities if f.status_24m[-1].isdigit()),
            default=0,
        )
        guarantees = result.models("guarantee")
        assert [(g.account_type, g.institution, g.balance, g.opened_on) for g in guarantees] == [
            ("GUARANTEE", g.beneficiary, g.amount, g.start_date) for g in firm.guarantees
        ]
        assert [g.account_ref for g in guarantees] == [
            f"GT{n}" for n in range(1, len(guarantees) + 1)
        ]
        assert len(result.models("public_record")) == len(firm.public_records)
