"""Every mapping against the simulators' real output, and the contract when input is bad."""

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from connectors.core import CoreConnector
from loanhub.cli import app
from loanhub.platform.masking import mask_text
from loanhub.platform.quarantine import quarantine_refused
from mappings.engine import Mapping, MappingError, MappingResult
from schemas.tables import quarantined_record
from tests.connectors.conftest import soap_config
from tests.simulators.portal_pages import ss_http_login

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def run(name: str, payload, **params) -> MappingResult:
    result = Mapping.load(name).map(
        payload, fetched_at=NOW, raw_payload_hash="a" * 64, params=params
    )
    mapped = sum(len(r) for r in result.records.values())
    assert result.seen == mapped + result.refused_records
    return result


def personal_report(bureau, person) -> bytes:
    return bureau.call(
        "QueryPersonalReport",
        idempotent=False,
        idNumber=person.id_number,
        name=person.name,
        queryReason="01",
        consentRef="C",
        operatorId="t",
        requestRef=f"M{time.time_ns()}",  # the bureau refuses a reference it has seen
    ).raw


def test_bureau_personal_report(sim, bureau, sim_dataset):
    person = next(p for p in sim_dataset.persons if p.known_to_bureau and len(p.accounts) >= 2)
    result = run(
        "bureau_personal", personal_report(bureau, person), application_no="A1", reason="01"
    )
    assert result.refused == []
    (report,) = result.models("report")
    assert report.subject_id_number == person.id_number
    assert report.lineage.mapping_version == Mapping.load("bureau_personal").version
    accounts = result.models("account")
    assert [(a.account_ref, a.credit_limit, a.status_24m) for a in accounts] == [
        (a.account_no, a.credit_limit, a.status_24m) for a in person.accounts
    ]
    assert len(result.models("account_month")) == 24 * len(accounts)
    assert len(result.models("inquiry")) == len(person.inquiries) + 1  # this very query


def test_bureau_enterprise_report(sim, bureau, sim_dataset):
    firm = next(e for e in sim_dataset.enterprises if e.known_to_bureau and e.facilities)
    raw = bureau.call(
        "QueryEnterpriseReport",
        idempotent=False,
        uscc=firm.uscc,
        name=firm.name,
        queryReason="01",
        consentRef="C",
        operatorId="t",
        requestRef=f"M{time.time_ns()}",  # the bureau refuses a reference it has seen
    ).raw
    result = run("bureau_enterprise", raw, application_no="A2", reason="01")
    assert result.refused == []
    assert result.models("report")[0].registered_capital == firm.registered_capital
    assert len(result.models("facility")) == len(firm.facilities)


@pytest.mark.parametrize("company", [False, True], ids=["person", "company"])
def test_core_customer_accounts_and_months(sim, sim_endpoints, sim_dataset, company: bool):
    """A person by resident ID, a company by its USCC: the same three mappings."""
    core = CoreConnector(soap_config(sim_endpoints, "core"), mask_text)
    customer = (sim_dataset.corporate_customers if company else sim_dataset.customers)[2]
    answer = core.customer(customer.id_number, enterprise=company)
    (found,) = run("core_customer", answer.raw, id_number=customer.id_number).models("customer")
    assert (found.customer_no, found.customer_since) == (customer.customer_no, customer.since)
    assert (found.id_number, found.segment) == (customer.id_number, customer.segment)
    accounts = run(
        "core_accounts", core.accounts(customer.customer_no).raw, customer_no=customer.customer_no
    ).models("account")
    assert [a.balance for a in accounts] == [a.balance for a in customer.accounts]
    deposit = customer.accounts[0]
    months = run(
        "core_monthly",
        core.monthly_summary(deposit.account_no, "200001", "209912").raw,
        account_no=deposit.account_no,
    ).models("month")
    assert [m.inflow for m in months] == [m.inflow for m in deposit.monthly]


def test_tax_answers_each_with_its_own_subject(sim_dataset):
    """The authority's own answer writer, several requests in one file, a 4-byte name."""
    from simulators.tax import _answer_row, answer_bytes

    person = next(p for p in sim_dataset.persons if p.tax)
    firm = next(e for e in sim_dataset.enterprises if e.tax)
    requests = [
        ["Q1", "P", person.id_number, person.name, "C1"],
        ["Q2", "E", firm.uscc, firm.name, "C2"],
        ["Q3", "P", person.id_number, "张𠀾", "C3"],
    ]  # name mismatch: NOT_FOUND
    rows = [_answer_row(r, sim_dataset, None) for r in requests]
    subjects = {r[0]: r[2] for r in requests}
    profiles = run("tax_answer", answer_bytes(rows), subjects=subjects).models("tax_profile")
    assert [(p.request_id, p.id_or_uscc, p.status.value) for p in profiles] == [
        ("Q1", person.id_number, "FOUND"),
        ("Q2", firm.uscc, "FOUND"),
        ("Q3", person.id_number, "NOT_FOUND"),
    ]
    assert profiles[1].revenue_y1 == firm.tax.revenue[0]


def test_csv_lines_that_do_not_fit_are_refused_alone():
    header = (
        "request_id,status,tax_credit_rating,revenue_y1,revenue_y2,revenue_y3,"
        "tax_paid_y1,tax_paid_y2,tax_paid_y3,arrears_amount,arrears_since,penalty_count"
    )
    good = "Q1,NOT_FOUND,,,,,,,,,,"
    data = (
        "\r\n".join(
            [header, good, "Q2,FOUND,A", '"Q3,x",NOT_FOUND,,,,,,,,,,', "TRL|3|0.00", ""]
        ).encode("gb18030")
        + b"\xff\xff\r\n"
    )
    result = run(
        "tax_answer", data, subjects={"Q1": "91350100M000100Y43", "Q3,x": "91350100M000100Y43"}
    )
    assert [p.request_id for p in result.models("tax_profile")] == ["Q1", "Q3,x"]
    assert sorted(r.reason.split(" ")[0] for r in result.refused) == ["3", "not"]


def test_social_security_export(sim, sim_endpoints, sim_dataset):
    person = next(p for p in sim_dataset.persons if len(p.contributions) > 12)
    http, _ = ss_http_login(sim_endpoints)
    url = sim_endpoints["ss_portal"]["url"]
    http.post(
        url + "query.do",
        data={"aac002": person.id_number, "aac003": person.name.encode("gbk", "xmlcharrefreplace")},
        timeout=10,
    )
    csv = http.get(url + "export.do", timeout=10).content
    months = run("ss_history", csv, id_number=person.id_number).models("month")
    assert sorted(m.month for m in months) == sorted(
        date(int(c.month[:4]), int(c.month[4:]), 1) for c in person.contributions
    )
    assert {m.status.value for m in months} <= {"PAID", "OWED", "PAID_LATE"}


def test_social_security_table_rows_as_read_off_the_screen(sim, sim_endpoints, sim_dataset):
    from lxml import html

    person = next(p for p in sim_dataset.persons if len(p.contributions) > 3)
    http, _ = ss_http_login(sim_endpoints)
    page = http.post(
        sim_endpoints["ss_portal"]["url"] + "query.do",
        timeout=10,
        data={"aac002": person.id_number, "aac003": person.name.encode("gbk", "xmlcharrefreplace")},
    )
    table = html.fromstring(page.content.decode("gbk")).xpath(
        "//table[.//td[normalize-space()='缴费年月']]"
    )[-1]
    header, *body = [[c.text_content().strip() for c in tr.xpath("td")] for tr in table.xpath("tr")]
    rows = [dict(zip(header, cells, strict=True)) for cells in body]
    months = run("ss_history", rows, id_number=person.id_number).models("month")
    assert len(months) == min(10, len(person.contributions))


BAD_REPORT = """<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<QueryPersonalReportResponse xmlns="urn:creditbureau:report:v1"><report>
<reportNo>R1</reportNo><reportTime>2026.11.24 10:00:00</reportTime>
<identity><name>张三</name><idNumber>11010519491231002X</idNumber></identity><score>999</score>
<accounts><account><accountNo>A1</accountNo><accountType>LOAN</accountType>
<institution>某银行</institution><status>NORMAL</status><openDate>2026.13.45</openDate>
<status24m>NNNNNNNNNNNNNNNNNNNNNNNN</status24m></account></accounts>
<inquiries/><publicRecords/></report></QueryPersonalReportResponse></soap:Body></soap:Envelope>"""


def test_refusals_name_the_field_and_are_quarantined_masked(pg_engine):
    result = run("bureau_personal", BAD_REPORT.encode(), application_no="A", reason="01")
    paths = {r.field_path for r in result.refused}
    assert "report.score" in paths  # the model's 300-900
    assert result.models("report") == []
    assert {r.record for r in result.refused} == {"report", "account", "account_month"}
    with pg_engine.begin() as conn:
        stored = quarantine_refused(
            conn, result.refused, source_system="bureau", source_ref="R1", mapping_version="v"
        )
        rows = conn.execute(select(quarantined_record)).mappings().all()
    assert stored == len(result.refused) == len(rows)
    assert all("11010519491231002X" not in (r["value_masked"] or "") for r in rows)


def test_a_bad_date_in_a_child_refuses_that_child_and_its_months():
    good_score = BAD_REPORT.replace("<score>999</score>", "<score>650</score>")
    result = run("bureau_personal", good_score.encode(), application_no="A", reason="01")
    assert len(result.models("report")) == 1
    assert [r.field_path for r in result.refused] == ["account.opened_on", None]
    assert "YYYY.MM.DD" in result.refused[0].reason


def test_a_mapping_file_with_an_unknown_transform_is_refused_at_load():
    spec = {
        "source_system": "x",
        "format": "csv",
        "records": [
            {
                "name": "r",
                "model": "schemas.sources.TaxProfile",
                "fields": {"request_id": {"column": "a", "transform": ["rot13"]}},
            }
        ],
    }
    with pytest.raises(MappingError, match="unknown transform"):
        Mapping(spec, "v")


def test_mapping_check_cli(tmp_path: Path):
    good = BAD_REPORT.replace("<score>999</score>", "<score>650</score>").replace(
        "2026.13.45", "2020.01.15"
    )
    (tmp_path / "r.xml").write_text(good)
    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "mapping",
            "check",
            "bureau_personal",
            str(tmp_path / "r.xml"),
            "--param",
            "application_no=A",
            "--param",
            "reason=01",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert '"record": "account"' in ok.output
    assert "11010519491231002X" not in ok.output  # masked on the terminal too
    (tmp_path / "bad.xml").write_text(BAD_REPORT)
    bad = runner.invoke(
        app,
        [
            "mapping",
            "check",
            "bureau_personal",
            str(tmp_path / "bad.xml"),
            "--param",
            "application_no=A",
            "--param",
            "reason=01",
        ],
    )
    assert bad.exit_code == 1
    assert "report.score" in bad.output
