"""The simulated bank's world, generated from a seed: same seed and size, same bytes.

Persons and enterprises with valid identifiers and Chinese names; the bureau's reports (24-month
status strings that agree with the accounts), tax records, social-security histories, core
customers and accounts, loans and repayment schedules with on-time, late, partial and missed
payments. Every simulator serves its slice of this one dataset, so a person found at the
bureau is the same person in the core and on the social-security portal.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from simulators import ids

CENT = Decimal("0.01")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭"
    "曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金贾"
)
COMPOUND = ("欧阳", "司马", "诸葛", "上官", "东方")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉晓东雪梅海燕鹏辉玲飞斌宇浩凯"
# A few 4-byte GB18030 characters (CJK Extension B) appear in real names and must survive.
RARE_GIVEN = "𠀾𡈼𤭢"
REGIONS = ("110105", "310115", "440305", "330106", "510107", "320102", "420106", "370202")
CITIES = {
    "110105": "北京",
    "310115": "上海",
    "440305": "深圳",
    "330106": "杭州",
    "510107": "成都",
    "320102": "南京",
    "420106": "武汉",
    "370202": "青岛",
}
FIRM_WORDS = ("华信", "恒达", "远航", "瑞丰", "金桥", "百川", "鼎盛", "新元", "聚源", "天成")
FIRM_KINDS = (
    "科技有限公司",
    "贸易有限公司",
    "制造有限公司",
    "物流股份有限公司",
    "建设工程有限公司",
)
LENDERS = ("工商银行", "建设银行", "招商银行", "平安银行", "浦发银行", "某消费金融公司")
BANK_CODE = "LHB001"
BANK_NAME = "领航银行"


def money(value: Decimal | float | int) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def month_start(d: date) -> date:
    return d.replace(day=1)


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass
class CreditAccount:
    account_no: str
    type: str  # LOAN | CREDIT_CARD
    institution: str
    status: str  # NORMAL | OVERDUE | CLOSED
    open_date: date
    credit_limit: Decimal | None
    balance: Decimal
    overdue_amount: Decimal
    status_24m: str  # oldest month first; the last character is the report month


@dataclass
class Inquiry:
    date: date
    institution: str
    reason: str  # 贷款审批 | 贷后管理 | 担保资格审查 | 信用卡审批


@dataclass
class PublicRecord:
    type: str  # COURT_JUDGMENT | TAX_ARREARS
    date: date
    amount: Decimal
    authority: str
    description: str


@dataclass
class Guarantee:
    beneficiary: str
    amount: Decimal
    start_date: date
    end_date: date


@dataclass
class TaxRecord:
    rating: str
    revenue: list[Decimal]
    tax_paid: list[Decimal]
    arrears_amount: Decimal
    arrears_since: date | None
    penalty_count: int


@dataclass
class ContributionMonth:
    month: str  # YYYYMM
    employer_name: str
    employer_uscc: str
    base: Decimal
    pension_personal: Decimal
    pension_employer: Decimal
    status: str  # 已缴 | 欠缴 | 补缴


@dataclass
class MonthSummary:
    month: str  # YYYYMM
    inflow: Decimal
    outflow: Decimal
    average_balance: Decimal


@dataclass
class CoreAccount:
    account_no: str
    type: str  # deposit | loan
    currency: str
    balance: Decimal
    status: str  # ACTIVE | DORMANT | CLOSED
    open_date: date
    monthly: list[MonthSummary] = field(default_factory=list)


@dataclass
class Customer:
    customer_no: str
    id_number: str
    name: str
    segment: str
    since: date
    accounts: list[CoreAccount]


@dataclass
class Installment:
    number: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    paid_date: date | None
    days_past_due: int
    status: str  # P paid on time, L late, A partial, M missed, D not yet due


@dataclass
class Loan:
    loan_account: str
    customer_no: str
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    start_date: date
    behaviour: str  # on_time | late | partial | missed
    installments: list[Installment]


@dataclass
class Person:
    id_number: str
    name: str
    gender: str
    birth_date: date
    mobile: str
    address: str
    score: int | None
    accounts: list[CreditAccount]
    inquiries: list[Inquiry]
    public_records: list[PublicRecord]
    known_to_bureau: bool
    tax: TaxRecord | None
    contributions: list[ContributionMonth]


@dataclass
class Enterprise:
    uscc: str
    name: str
    registered_capital: Decimal
    established: date
    facilities: list[CreditAccount]
    guarantees: list[Guarantee]
    inquiries: list[Inquiry]
    public_records: list[PublicRecord]
    known_to_bureau: bool
    tax: TaxRecord | None


@dataclass
class LosApplication:
    """A credit application as the loan origination system holds it, waiting for a decision."""

    application_no: str
    id_number: str
    applicant_name: str
    product: str
    requested_amount: Decimal
    term_months: int
    submitted_on: date
    branch: str


@dataclass
class EnterpriseApplication(LosApplication):
    """A company's application (``id_number`` is its USCC, ``applicant_name`` its name),
    guaranteed by a person when ``guarantor_id_number`` is set. A subclass, so that the persons'
    applications keep the very fields (and bytes) they always had."""

    applicant_kind: str = "ENTERPRISE"
    guarantor_id_number: str | None = None
    guarantor_name: str | None = None


ENTERPRISE_APPLICATIONS = 9
"""Companies' applications, appended after the persons' (from a stream of their own)."""

UNBANKED_APPLICANTS = 2
"""Applying companies the core does not know (they bank elsewhere): their approved loans have
no account to pay into until an operator names one."""


@dataclass
class Dataset:
    seed: int
    business_date: date
    persons: list[Person]
    enterprises: list[Enterprise]
    customers: list[Customer]
    loans: list[Loan]
    applications: list[LosApplication]
    corporate_customers: list[Customer] = field(default_factory=list)
    """Companies that bank with the bank (segment CORPORATE, a settlement account each): kept
    apart from the persons' ``customers`` so that list stays byte for byte what it was."""

    @cached_property
    def all_customers(self) -> list[Customer]:
        """Every customer the core knows: persons', then companies'."""
        return [*self.customers, *self.corporate_customers]

    @cached_property
    def person_by_id(self) -> dict[str, Person]:
        return {p.id_number: p for p in self.persons}

    @cached_property
    def enterprise_by_uscc(self) -> dict[str, Enterprise]:
        return {e.uscc: e for e in self.enterprises}

    @cached_property
    def application_by_no(self) -> dict[str, LosApplication]:
        return {a.application_no: a for a in self.applications}

    @cached_property
    def customer_by_id(self) -> dict[str, Customer]:
        return {c.id_number: c for c in self.all_customers}

    @cached_property
    def customer_by_no(self) -> dict[str, Customer]:
        return {c.customer_no: c for c in self.all_customers}

    @cached_property
    def account_by_no(self) -> dict[str, CoreAccount]:
        return {a.account_no: a for c in self.all_customers for a in c.accounts}

    @cached_property
    def holder_of_account(self) -> dict[str, Customer]:
        return {a.account_no: c for c in self.all_customers for a in c.accounts}

    def canonical_bytes(self) -> bytes:
        body = {k: v for k, v in asdict(self).items()}
        return json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()

    def digest(self) -> str:
        """SHA-256 of the whole dataset: equal for equal seeds and sizes, on any machine."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()


class _Generator:
    def __init__(self, seed: int, business_date: date) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data
        self.today = business_date
        self.report_month = month_start(business_date)
        self.serial = 0

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def amount(self, low: int, high: int) -> Decimal:
        return money(Decimal(self.rng.randrange(low * 100, high * 100)) / 100)

    def person_name(self) -> str:
        rng = self.rng
        surname = rng.choice(COMPOUND) if rng.random() < 0.06 else rng.choice(SURNAMES)
        given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        if rng.random() < 0.03:
            given = given[:-1] + rng.choice(RARE_GIVEN)
        return surname + given

    def status_string(self, opened: date, closed: date | None, overdue_now: int, card: bool) -> str:
        """24 monthly codes, oldest first, consistent with open/close dates and overdue state."""
        codes = []
        episode = 0
        for k in range(23, -1, -1):
            month = add_months(self.report_month, -k)
            if month < month_start(opened):
                codes.append("/")
            elif closed is not None and month >= month_start(closed):
                codes.append("C")
            elif k < overdue_now:
                codes.append(str(min(7, overdue_now - k)))
            elif card and self.rng.random() < 0.1:
                codes.append("*")
            elif (
                episode == 0
                and k > overdue_now
                and month > month_start(opened)
                and self.rng.random() < 0.03
            ):
                episode = 1
                codes.append("1")
            else:
                episode = 0
                codes.append("N")
        return "".join(codes)

    def credit_account(self, owner_kind: str) -> CreditAccount:
        rng = self.rng
        card = owner_kind == "P" and rng.random() < 0.45
        opened = self.today - timedelta(days=rng.randrange(60, 3650))
        closed = None
        if rng.random() < 0.2:
            closed = opened + timedelta(days=rng.randrange(30, max(31, (self.today - opened).days)))
            if closed >= self.today:
                closed = None
        overdue_now = 0 if closed or rng.random() > 0.08 else rng.randrange(1, 5)
        # months on book after the opening month: nobody is overdue longer than that
        on_book = (
            (self.report_month.year - opened.year) * 12 + self.report_month.month - opened.month
        )
        overdue_now = min(overdue_now, max(0, on_book))
        limit = self.amount(5_000, 200_000) if card else self.amount(50_000, 3_000_000)
        balance = Decimal("0.00") if closed else money(limit * Decimal(rng.random()))
        overdue = money(balance * Decimal("0.05") * overdue_now) if overdue_now else Decimal("0.00")
        return CreditAccount(
            account_no=f"{'CC' if card else 'LN'}{self.next_serial():010d}",
            type="CREDIT_CARD" if card else "LOAN",
            institution=rng.choice(LENDERS),
            status="CLOSED" if closed else ("OVERDUE" if overdue_now else "NORMAL"),
            open_date=opened,
            credit_limit=limit,
            balance=balance,
            overdue_amount=overdue,
            status_24m=self.status_string(opened, closed, overdue_now, card),
        )

    def inquiries(self) -> list[Inquiry]:
        reasons = ("贷款审批", "贷后管理", "担保资格审查", "信用卡审批")
        return sorted(
            (
                Inquiry(
                    self.today - timedelta(days=self.rng.randrange(1, 720)),
                    self.rng.choice(LENDERS),
                    self.rng.choice(reasons),
                )
                for _ in range(self.rng.randrange(0, 6))
            ),
            key=lambda i: i.date,
        )

    def public_records(self, rate: float) -> list[PublicRecord]:
        if self.rng.random() > rate:
            return []
        kind = self.rng.choice(("COURT_JUDGMENT", "TAX_ARREARS"))
        return [
            PublicRecord(
                type=kind,
                date=self.today - timedelta(days=self.rng.randrange(30, 1500)),
                amount=self.amount(1_000, 500_000),
                authority="人民法院" if kind == "COURT_JUDGMENT" else "税务局",
                description="民事判决未履行" if kind == "COURT_JUDGMENT" else "欠缴税款",
            )
        ]

    def tax(self, scale: int) -> TaxRecord:
        rng = self.rng
        revenue = [self.amount(scale // 2, scale * 2) for _ in range(3)]
        arrears = self.amount(1_000, 90_000) if rng.random() < 0.1 else Decimal("0.00")
        return TaxRecord(
            rating=rng.choices("ABMCD", weights=(40, 30, 15, 10, 5))[0],
            revenue=revenue,
            tax_paid=[money(r * Decimal("0.06")) for r in revenue],
            arrears_amount=arrears,
            arrears_since=self.today - timedelta(days=rng.randrange(30, 400)) if arrears else None,
            penalty_count=rng.choices((0, 1, 2, 3), weights=(80, 12, 6, 2))[0],
        )

    def contributions(self, employers: list[Enterprise]) -> list[ContributionMonth]:
        rng = self.rng
        months = rng.randrange(6, 61)
        employer = rng.choice(employers)
        base = money(rng.randrange(4_000, 30_000))
        history = []
        for k in range(months, 0, -1):
            month = add_months(self.report_month, -k)
            if rng.random() < 0.03:
                employer = rng.choice(employers)
            status = rng.choices(("已缴", "欠缴", "补缴"), weights=(92, 3, 5))[0]
            history.append(
                ContributionMonth(
                    month=f"{month:%Y%m}",
                    employer_name=employer.name,
                    employer_uscc=employer.uscc,
                    base=base,
                    pension_personal=money(base * Decimal("0.08")),
                    pension_employer=money(base * Decimal("0.16")),
                    status=status,
                )
            )
        return history

    def enterprise(self) -> Enterprise:
        rng = self.rng
        region = rng.choice(REGIONS)
        established = self.today - timedelta(days=rng.randrange(400, 9000))
        known = rng.random() > 0.05
        return Enterprise(
            uscc=ids.uscc(rng, region),
            name=CITIES[region] + rng.choice(FIRM_WORDS) + rng.choice(FIRM_KINDS),
            registered_capital=money(rng.randrange(100, 50_000) * 10_000),
            established=established,
            facilities=[self.credit_account("E") for _ in range(rng.randrange(0, 4))]
            if known
            else [],
            guarantees=[
                Guarantee(
                    rng.choice(FIRM_WORDS) + "有限公司",
                    self.amount(100_000, 5_000_000),
                    established + timedelta(days=400),
                    self.today + timedelta(days=365),
                )
                for _ in range(rng.randrange(0, 2))
            ]
            if known
            else [],
            inquiries=self.inquiries() if known else [],
            public_records=self.public_records(0.1) if known else [],
            known_to_bureau=known,
            tax=self.tax(5_000_000) if rng.random() > 0.1 else None,
        )

    def person(self, employers: list[Enterprise]) -> Person:
        rng = self.rng
        region = rng.choice(REGIONS)
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 42))
        known = rng.random() > 0.05
        rid = ids.resident_id(rng, region, born)
        return Person(
            id_number=rid,
            name=self.person_name(),
            gender="男" if int(rid[16]) % 2 else "女",
            birth_date=born,
            mobile=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            address=f"{CITIES[region]}市某区某路{rng.randrange(1, 999)}号",
            score=rng.randrange(350, 880) if known and rng.random() > 0.1 else None,
            accounts=[self.credit_account("P") for _ in range(rng.randrange(0, 7))]
            if known
            else [],
            inquiries=self.inquiries() if known else [],
            public_records=self.public_records(0.05) if known else [],
            known_to_bureau=known,
            tax=self.tax(300_000) if rng.random() < 0.3 else None,
            contributions=self.contributions(employers) if rng.random() > 0.1 else [],
        )

    def customer(self, person: Person) -> Customer:
        rng = self.rng
        since = self.today - timedelta(days=rng.randrange(100, 5000))
        accounts = []
        for _ in range(rng.randrange(1, 4)):
            status = rng.choices(("ACTIVE", "DORMANT", "CLOSED"), weights=(85, 8, 7))[0]
            balance = Decimal("0.00") if status == "CLOSED" else self.amount(0, 500_000)
            account = CoreAccount(
                account_no=f"6222{self.next_serial():012d}",
                type="deposit",
                currency="CNY",
                balance=balance,
                status=status,
                open_date=since + timedelta(days=rng.randrange(0, 90)),
            )
            for k in range(12, 0, -1):
                month = add_months(self.report_month, -k)
                inflow = self.amount(0, 60_000) if status == "ACTIVE" else Decimal("0.00")
                outflow = money(inflow * Decimal(rng.uniform(0.6, 1.1)))
                account.monthly.append(
                    MonthSummary(
                        f"{month:%Y%m}",
                        inflow,
                        outflow,
                        money(balance * Decimal(rng.uniform(0.8, 1.2))),
                    )
                )
            accounts.append(account)
        return Customer(
            customer_no=f"{100000000000 + self.next_serial():012d}",
            id_number=person.id_number,
            name=person.name,
            segment=rng.choice(("MASS", "AFFLUENT", "PRIVATE")),
            since=since,
            accounts=accounts,
        )

    def loan(self, customer: Customer) -> Loan:
        rng = self.rng
        principal = money(rng.randrange(20, 1000) * 1000)
        rate = Decimal(rng.choice(("0.0365", "0.0435", "0.0490", "0.0720")))
        term = rng.choice((12, 24, 36))
        start = add_months(self.report_month, -rng.randrange(2, term + 6)).replace(day=20)
        behaviour = rng.choices(("on_time", "late", "partial", "missed"), weights=(75, 12, 7, 6))[0]
        loan_account = f"LN{self.next_serial():018d}"
        customer.accounts.append(
            CoreAccount(loan_account, "loan", "CNY", -principal, "ACTIVE", start)
        )
        return Loan(
            loan_account,
            customer.customer_no,
            principal,
            rate,
            term,
            start,
            behaviour,
            self.schedule(principal, rate, term, start, behaviour),
        )

    def application(self, person: Person) -> LosApplication:
        rng = self.rng
        submitted = self.today - timedelta(days=rng.randrange(0, 20))
        return LosApplication(
            application_no=f"AP{submitted:%Y%m%d}{self.next_serial():06d}",
            id_number=person.id_number,
            applicant_name=person.name,
            product=rng.choice(("个人消费贷", "个人经营贷", "住房按揭贷款")),
            requested_amount=money(rng.randrange(10, 3000) * 1000),
            term_months=rng.choice((12, 24, 36, 60, 120)),
            submitted_on=submitted,
            branch=rng.choice(("北京分行营业部", "上海浦东支行", "深圳福田支行", "杭州西湖支行")),
        )

    def schedule(
        self, principal: Decimal, rate: Decimal, term: int, start: date, behaviour: str
    ) -> list[Installment]:
        """Equal instalments (annuity), and what the borrower had paid by the business date."""
        rng = self.rng
        r = rate / 12
        payment = money(principal * r / (1 - (1 + r) ** -term))
        remaining = principal
        stop_paying = rng.randrange(1, term + 1) if behaviour == "missed" else term + 1
        out = []
        for n in range(1, term + 1):
            interest = money(remaining * r)
            principal_due = remaining if n == term else payment - interest
            remaining -= principal_due
            due = add_months(start, n)
            p_paid = i_paid = Decimal("0.00")
            paid_on: date | None = None
            if due > self.today:
                status, dpd = "D", 0
            elif n >= stop_paying:
                status, dpd = "M", (self.today - due).days
            else:
                paid_on = due - timedelta(days=rng.randrange(0, 3))
                p_paid, i_paid = principal_due, interest
                status, dpd = "P", 0
                if behaviour == "late" and rng.random() < 0.4:
                    paid_on = due + timedelta(days=rng.randrange(1, 40))
                    if paid_on > self.today:
                        paid_on, p_paid, i_paid = None, Decimal("0.00"), Decimal("0.00")
                        status, dpd = "M", (self.today - due).days
                    else:
                        status, dpd = "L", (paid_on - due).days
                elif behaviour == "partial" and rng.random() < 0.4:
                    p_paid = money(principal_due * Decimal("0.5"))
                    status, dpd = "A", (self.today - due).days
            out.append(
                Installment(n, due, principal_due, interest, p_paid, i_paid, paid_on, dpd, status)
            )
        return out


def booked_loan(
    seed: int,
    loan_account: str,
    customer_no: str,
    principal: Decimal,
    start: date,
    as_of: date,
) -> Loan:
    """A loan the core booked after the hub paid it out (12 months at 4.35%), as its books
    stand on ``as_of``. How its borrower repays is drawn from the loan account and the seed,
    in due-date order, so the history of one night is the start of the next night's; the mix
    is riskier than the seeded book's, so that a short demo has arrears to warn about."""
    digest = hashlib.sha256(f"{seed}:{loan_account}".encode()).digest()
    g = _Generator(int.from_bytes(digest[:8], "big"), as_of)
    behaviour = g.rng.choices(("on_time", "late", "partial", "missed"), weights=(55, 15, 15, 15))[0]
    rate, term = Decimal("0.0435"), 12
    schedule = g.schedule(principal, rate, term, start, behaviour)
    return Loan(loan_account, customer_no, principal, rate, term, start, behaviour, schedule)


def enterprise_applications(
    seed: int, business_date: date, firms: list[Enterprise], people: list[Person]
) -> list[EnterpriseApplication]:
    """Companies' applications, drawn from a random stream of their own (seeded by ``seed``),
    so that adding them changed nothing the persons' stream draws: every person, report and
    application generated before stays byte for byte what it was. Applicants are companies
    the bureau knows with a tax record; two in three are guaranteed by a person the bureau
    knows, never the same person twice, drawn from the second half of the persons (the tests
    that take "the first person who ..." never meet a guarantor's extra hard inquiries)."""
    rng = random.Random(f"{seed}:enterprise-applications")  # noqa: S311 - test data
    firms = [f for f in firms if f.known_to_bureau and f.tax is not None]
    later = people[len(people) // 2 :]
    sureties = [p for p in later if p.known_to_bureau and p.score is not None]
    chosen = rng.sample(firms, min(ENTERPRISE_APPLICATIONS, len(firms)))
    guarantors = iter(rng.sample(sureties, min(len(chosen), len(sureties))))
    out = []
    for n, firm in enumerate(chosen, 1):
        submitted = business_date - timedelta(days=rng.randrange(0, 20))
        guarantor = next(guarantors, None) if n % 3 else None
        out.append(
            EnterpriseApplication(
                application_no=f"AE{submitted:%Y%m%d}{n:06d}",
                id_number=firm.uscc,
                applicant_name=firm.name,
                product=rng.choice(("企业流动资金贷款", "企业经营贷")),
                requested_amount=money(rng.randrange(100, 5000) * 1000),
                term_months=rng.choice((12, 24, 36)),
                submitted_on=submitted,
                branch=rng.choice(("北京分行营业部", "上海浦东支行", "深圳福田支行")),
                guarantor_id_number=guarantor.id_number if guarantor else None,
                guarantor_name=guarantor.name if guarantor else None,
            )
        )
    return out


def corporate_customers(
    seed: int,
    business_date: date,
    firms: list[Enterprise],
    applications: list[LosApplication],
) -> list[Customer]:
    """Companies that bank with the bank, drawn from a random stream of their own (seeded by
    ``seed``), appended after everything else so that no person, customer, loan or application
    drawn before changes. Every applying company but ``UNBANKED_APPLICANTS`` of them is a
    customer, and about a third of the others; each has an ACTIVE settlement (deposit)
    account, now and then a second account in any state, and twelve months of summaries.
    Numbers have their own prefixes (customers ``2...``, accounts ``6228...``): they never meet
    the persons'."""
    rng = random.Random(f"{seed}:corporate-customers")  # noqa: S311 - test data
    g = _Generator(0, business_date)
    g.rng = rng  # its amounts and months, drawn from this stream
    applying = list(
        dict.fromkeys(a.id_number for a in applications if isinstance(a, EnterpriseApplication))
    )
    unbanked = set(rng.sample(applying, min(UNBANKED_APPLICANTS, len(applying))))
    others = [f.uscc for f in firms if f.uscc not in set(applying)]
    banked = {u for u in applying if u not in unbanked}
    banked |= {u for u in others if rng.random() < 0.35}
    out = []
    for firm in firms:
        if firm.uscc not in banked:
            continue
        since = max(firm.established, business_date - timedelta(days=rng.randrange(200, 6000)))
        n = len(out) + 1
        statuses = ["ACTIVE"]  # the settlement account a loan is paid into
        if rng.random() < 0.5:
            statuses += rng.choices(("ACTIVE", "DORMANT", "CLOSED"), weights=(6, 2, 2))
        accounts = []
        for k, status in enumerate(statuses):
            balance = Decimal("0.00") if status == "CLOSED" else g.amount(10_000, 5_000_000)
            account = CoreAccount(
                account_no=f"6228{n:08d}{k:04d}",
                type="deposit",
                currency="CNY",
                balance=balance,
                status=status,
                open_date=since + timedelta(days=rng.randrange(0, 90)),
            )
            for back in range(12, 0, -1):
                month = add_months(g.report_month, -back)
                inflow = g.amount(50_000, 3_000_000) if status == "ACTIVE" else Decimal("0.00")
                account.monthly.append(
                    MonthSummary(
                        f"{month:%Y%m}",
                        inflow,
                        money(inflow * Decimal(rng.uniform(0.7, 1.05))),
                        money(balance * Decimal(rng.uniform(0.8, 1.2))),
                    )
                )
            accounts.append(account)
        out.append(
            Customer(
                customer_no=f"{200000000000 + n:012d}",
                id_number=firm.uscc,
                name=firm.name,
                segment="CORPORATE",
                since=since,
                accounts=accounts,
            )
        )
    return out


def generate(
    seed: int = 20261124,
    persons: int = 200,
    enterprises: int = 40,
    business_date: date = date(2026, 11, 20),
) -> Dataset:
    """The whole world for ``seed``; sizes are counts of persons and enterprises."""
    g = _Generator(seed, business_date)
    firms = [g.enterprise() for _ in range(max(1, enterprises))]
    people = [g.person(firms) for _ in range(persons)]
    customers = [g.customer(p) for p in people if g.rng.random() < 0.7]
    loans = [g.loan(c) for c in customers if g.rng.random() < 0.5]
    applications: list[LosApplication] = [g.application(p) for p in people if g.rng.random() < 0.4]
    applications += enterprise_applications(seed, business_date, firms, people)
    companies = corporate_customers(seed, business_date, firms, applications)
    return Dataset(seed, business_date, people, firms, customers, loans, applications, companies)
