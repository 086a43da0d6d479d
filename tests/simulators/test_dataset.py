import itertools
import subprocess
import sys

from schemas.identifiers import validate_resident_id, validate_uscc
from simulators.dataset import add_months, generate, month_start


def test_same_seed_same_bytes_in_separate_processes() -> None:
    cmd = [sys.executable, "-m", "simulators", "dataset-hash", "--seed", "5", "--persons", "50"]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    second = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    assert first == second == generate(5, 50).digest()
    assert generate(6, 50).digest() != first


def test_identifiers_are_valid_by_the_hubs_own_rules() -> None:
    data = generate(3, 150, 30)
    for p in data.persons:
        assert validate_resident_id(p.id_number) == p.id_number
    for e in data.enterprises:
        assert validate_uscc(e.uscc) == e.uscc


def test_names_are_chinese_and_some_need_four_byte_gb18030() -> None:
    data = generate(3, 400, 10)
    names = [p.name for p in data.persons]
    assert all("\u4e00" <= n[0] <= "\u9fff" for n in names)
    assert any(len(ch.encode("gb18030")) == 4 for n in names for ch in n)


def test_24_month_strings_agree_with_the_accounts() -> None:
    accounts = []
    for seed in range(4, 9):
        data = generate(seed, 300, 50)
        accounts += [a for p in data.persons for a in p.accounts] + [
            a for e in data.enterprises for a in e.facilities
        ]
    assert len(accounts) > 300
    report_month = month_start(data.business_date)
    for a in accounts:
        s = a.status_24m
        assert len(s) == 24
        opened_index = 23 - sum(
            1 for k in range(24) if add_months(report_month, -k) >= month_start(a.open_date)
        )
        assert set(s[: opened_index + 1]) <= {"/"}, (s, a.open_date)
        assert "/" not in s[opened_index + 1 :], (s, a.open_date)
        body = s[opened_index + 1 :]
        assert body[:1] not in set("234567"), s  # the opening month cannot be overdue
        for prev, code in itertools.pairwise(body):
            if code in "234567":
                assert prev == str(int(code) - 1), s  # overdue grows one month at a time
            if prev == "C":
                assert code == "C", s  # closed stays closed
        if a.status == "CLOSED":
            assert s[-1] == "C"
            assert a.balance == 0
        elif a.status == "OVERDUE":
            assert s[-1] in "1234567"
            assert a.overdue_amount > 0
        else:
            assert s[-1] in "N*"
            assert a.overdue_amount == 0


def test_repayments_show_every_behaviour_and_amortise_the_principal() -> None:
    data = generate(4, 300, 50)
    statuses = {i.status for loan in data.loans for i in loan.installments}
    assert statuses == {"P", "L", "A", "M", "D"}
    for loan in data.loans:
        assert sum(i.principal_due for i in loan.installments) == loan.principal
        for i in loan.installments:
            if i.status in "PL":
                assert i.principal_paid == i.principal_due
                assert i.paid_date is not None
            if i.status == "D":
                assert i.due_date > data.business_date


# The persons, enterprises, customers, loans and the persons' 80 applications of the default
# world, as they were before companies' applications were appended (every existing test relies
# on them byte for byte).
PERSONS_WORLD_SHA256 = "dc0b7cb8b35cdb6eb56c9a13afbcf35e655fea1f085d8d060e4bb0acc35c8229"


def _persons_world(data) -> str:
    import hashlib
    import json
    from dataclasses import asdict

    parts = [
        *(asdict(a) for a in data.applications[:80]),
        *(asdict(p) for p in data.persons),
        *(asdict(e) for e in data.enterprises),
        *(asdict(c) for c in data.customers),
        *(asdict(loan) for loan in data.loans),
    ]
    body = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(body).hexdigest()


def test_company_applications_are_appended_and_change_nothing_before_them() -> None:
    data = generate()
    assert _persons_world(data) == PERSONS_WORLD_SHA256
    persons, firms = data.applications[:80], data.applications[80:]
    assert all(a.id_number in data.person_by_id for a in persons)
    assert 8 <= len(firms) <= 10
    for a in firms:
        firm = data.enterprise_by_uscc[a.id_number]  # the bureau and tax authority know it
        assert (a.applicant_kind, a.applicant_name) == ("ENTERPRISE", firm.name)
        assert firm.known_to_bureau
        assert firm.tax is not None
        if a.guarantor_id_number:
            surety = data.person_by_id[a.guarantor_id_number]
            assert (surety.name, surety.known_to_bureau) == (a.guarantor_name, True)
    sureties = [a.guarantor_id_number for a in firms if a.guarantor_id_number]
    assert 0 < len(sureties) == len(set(sureties)) < len(firms)
    assert len({a.application_no for a in data.applications}) == len(data.applications)


def test_companies_bank_with_the_bank_appended_after_everything() -> None:
    """Corporate customers (their own stream, after everything else): most applying companies
    and some others, each with an active settlement account; at least one applying company
    without one (it banks elsewhere); numbers that never meet the persons'."""
    data = generate()
    assert _persons_world(data) == PERSONS_WORLD_SHA256  # nothing drawn before changed
    corporate = data.corporate_customers
    applying = {a.id_number for a in data.applications[80:]}
    banked = {c.id_number for c in corporate}
    assert 0 < len(applying - banked) < len(applying) / 2
    assert banked - applying  # some companies that do not apply bank here too
    assert banked <= set(data.enterprise_by_uscc)
    persons_numbers = {c.customer_no for c in data.customers}
    persons_accounts = {a.account_no for c in data.customers for a in c.accounts}
    for c in corporate:
        firm = data.enterprise_by_uscc[c.id_number]
        assert (c.name, c.segment) == (firm.name, "CORPORATE")
        assert c.accounts[0].type == "deposit"
        assert c.accounts[0].status == "ACTIVE"  # the settlement account a loan is paid into
        assert len(c.accounts[0].monthly) == 12
        assert c.customer_no not in persons_numbers
        assert not {a.account_no for a in c.accounts} & persons_accounts
        assert data.customer_by_id[c.id_number] is c
        assert data.customer_by_no[c.customer_no] is c
        assert data.holder_of_account[c.accounts[0].account_no] is c
    assert generate().digest() == data.digest()
