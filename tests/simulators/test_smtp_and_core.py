import smtplib
from decimal import Decimal
from email.message import EmailMessage

import pytest
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken


def test_smtp_keeps_what_it_receives(sim, sim_endpoints):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "hub@bank.local", "risk@bank.local", "预警: 逾期"
    msg.set_content("贷款 LN0001 逾期 31 天")
    with smtplib.SMTP(sim_endpoints["smtp"]["host"], sim_endpoints["smtp"]["port"]) as smtp:
        smtp.send_message(msg)
    (mail,) = sim.journal("smtp", "mail")
    assert mail["rcpt_tos"] == ["risk@bank.local"]
    assert mail["subject"] == "预警: 逾期"
    assert "逾期 31 天" in mail["body"]


@pytest.fixture(scope="module")
def core(sim_endpoints):
    creds = sim_endpoints["core"]
    return Client(
        creds["wsdl"],
        settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
        wsse=UsernameToken(creds["username"], creds["password"], use_digest=True),
    )


def test_core_customer_accounts_and_monthly_summary(sim, core, sim_dataset):
    customer = sim_dataset.customers[0]
    found = core.service.GetCustomerByIdNumber(idNumber=customer.id_number)
    assert found.customerNo == customer.customer_no
    accounts = core.service.GetAccounts(customerNo=customer.customer_no)
    assert [a.accountNo for a in accounts] == [a.account_no for a in customer.accounts]
    deposit = customer.accounts[0]
    months = core.service.GetMonthlySummary(
        accountNo=deposit.account_no, fromMonth="200001", toMonth="209912"
    )
    assert [m.month for m in months] == [m.month for m in deposit.monthly]


def test_core_faults(sim, core, sim_dataset):
    stranger = next(p for p in sim_dataset.persons if p.id_number not in sim_dataset.customer_by_id)
    with pytest.raises(Fault) as fault:
        core.service.GetCustomerByIdNumber(idNumber=stranger.id_number)
    assert fault.value.code == "soap:Client.CustomerNotFound"
    with pytest.raises(Fault) as fault:
        core.service.GetMonthlySummary(accountNo="x", fromMonth="2026-01", toMonth="202602")
    assert fault.value.code == "soap:Client"
    sim.controls({"core": {"GetAccounts": {"fault": "busy", "rate": 1.0}}})
    with pytest.raises(Fault) as fault:
        core.service.GetAccounts(customerNo=sim_dataset.customers[0].customer_no)
    assert fault.value.code == "soap:Server.Busy"


def test_a_mail_in_an_unknown_charset_is_still_kept(sim, sim_endpoints):
    raw = (
        b"From: a@x\r\nTo: b@x\r\nSubject: =?x-unknown?q?hi?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\nbody\r\n"
    )
    with smtplib.SMTP(sim_endpoints["smtp"]["host"], sim_endpoints["smtp"]["port"]) as smtp:
        smtp.sendmail("a@x", ["b@x"], raw)
    (mail,) = sim.journal("smtp", "mail")
    assert "body" in mail["body"]


def test_core_refuses_a_bad_checksum_as_bad_input(sim, core):
    with pytest.raises(Fault) as fault:
        core.service.GetCustomerByIdNumber(idNumber="110105194912310021")
    assert fault.value.code == "soap:Client.InvalidIdentifier"


def test_core_answers_a_company_by_its_uscc(sim, core, sim_dataset):
    company = sim_dataset.corporate_customers[0]
    found = core.service.GetCustomerByIdNumber(idNumber=company.id_number)
    assert (found.customerNo, found.segment) == (company.customer_no, "CORPORATE")
    accounts = core.service.GetAccounts(customerNo=company.customer_no)
    assert [a.accountNo for a in accounts] == [a.account_no for a in company.accounts]
    settlement = company.accounts[0]
    months = core.service.GetMonthlySummary(
        accountNo=settlement.account_no, fromMonth="200001", toMonth="209912"
    )
    assert [Decimal(m.inflow) for m in months] == [m.inflow for m in settlement.monthly]
    elsewhere = next(
        a.id_number
        for a in sim_dataset.applications[80:]
        if a.id_number not in sim_dataset.customer_by_id
    )
    with pytest.raises(Fault) as fault:  # a company that banks elsewhere
        core.service.GetCustomerByIdNumber(idNumber=elsewhere)
    assert fault.value.code == "soap:Client.CustomerNotFound"
    bad = company.id_number[:-1] + ("0" if company.id_number[-1] != "0" else "1")
    with pytest.raises(Fault) as fault:
        core.service.GetCustomerByIdNumber(idNumber=bad)
    assert fault.value.code == "soap:Client.InvalidIdentifier"
