"""Seeded synthetic applicants for the embedded demo: same seed, same people.

Every identifier is generated valid (real check characters), except the few records that the
batch deliberately mistypes, so that the demo shows a bad record being quarantined with its
reason while the rest load.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from loanhub.flows.postloan import maturity
from schemas.identifiers import resident_id_check_char, uscc_check_char

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰晓东雪梅海燕"
REGIONS = ("110105", "310115", "440305", "330106", "510107", "320102", "420106", "370202")
CITIES = ("北京", "上海", "深圳", "杭州")
ENTERPRISE_WORDS = ("华信", "恒达", "远航", "瑞丰", "金桥", "百川", "鼎盛", "新元")
ENTERPRISE_KINDS = ("科技有限公司", "贸易有限公司", "制造有限公司", "物流股份有限公司")
PRODUCTS = ("CONSUMER", "MORTGAGE", "SME_WORKING_CAPITAL")


def resident_id(rng: random.Random, born: date) -> str:
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + resident_id_check_char(body)


def uscc(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + rng.choice(REGIONS) + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc_check_char(body)


def person_name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.08 else rng.choice(SURNAMES)
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def mistype(rng: random.Random, identifier: str) -> str:
    """Change one digit of the body: the check character no longer matches (a typo)."""
    pos = rng.randrange(14, 17)
    digit = str((int(identifier[pos]) + rng.randrange(1, 10)) % 10)
    return identifier[:pos] + digit + identifier[pos + 1 :]


def applicant_batch(seed: int, size: int, *, mistyped_every: int = 13) -> list[dict[str, Any]]:
    """Raw intake records (as a channel would submit them): party, application and consent."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    submitted = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    batch = []
    for n in range(1, size + 1):
        is_person = rng.random() < 0.8
        if is_person:
            born = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 40))
            party: dict[str, Any] = {
                "kind": "PERSON",
                "id_number": resident_id(rng, born),
                "name": person_name(rng),
                "mobile": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            }
        else:
            party = {
                "kind": "ENTERPRISE",
                "id_number": uscc(rng),
                "name": rng.choice(CITIES)
                + rng.choice(ENTERPRISE_WORDS)
                + rng.choice(ENTERPRISE_KINDS),
                "registered_capital": str(Decimal(rng.randrange(100, 5000)) * 10000),
            }
        if is_person and n % mistyped_every == 0:
            party["id_number"] = mistype(rng, party["id_number"])
        app_no = f"APP{seed:03d}{n:06d}"
        at = submitted + timedelta(minutes=7 * n)
        batch.append(
            {
                "party": party,
                "application": {
                    "application_no": app_no,
                    "party_id_number": party["id_number"],
                    "product": rng.choice(PRODUCTS[:2] if is_person else PRODUCTS[2:]),
                    "requested_amount": f"{rng.randrange(20, 2000) * 1000:.2f}",
                    "term_months": rng.choice((12, 24, 36, 60)),
                    "submitted_at": at.isoformat(),
                },
                "consent": {
                    "consent_ref": f"CNS-{app_no}",
                    "party_id_number": party["id_number"],
                    "scope": "BUREAU",
                    "reason": "01",
                    "granted_at": at.isoformat(),
                    "expires_at": (at + timedelta(days=90)).isoformat(),
                },
            }
        )
    return batch


APPROVAL_DAYS = 90  # how long the consents for loan approval (reason 01) last
SCOPES = ("BUREAU", "TAX", "SOCIAL_SECURITY", "CORE")


def los_intake(applications: list[dict[str, Any]], granted: datetime) -> list[dict[str, Any]]:
    """Intake records for applications waiting in the LOS (as its daily list shows them), with
    the consents the applicant signed on the form. For loan approval (reason 01), valid for 90
    days: for a person the bureau, tax, social security and core; for a company
    (``applicant_kind`` ENTERPRISE) the bureau, tax and core (the portal knows persons only).
    For post-loan monitoring (reason 02) the same scopes, valid for the loan's life: the
    requested term counted from the end of the approval window (a loan is paid out, at the
    latest, when the approval consents lapse). The form states that date; the hub reads it from
    the record and derives none of its own. A guarantor named on the application is a party of
    its own, with its consent to the bureau for guarantee review (reason 03)."""

    def consent(
        app_no: str, id_number: str, scope: str, reason: str, expires: datetime, who: str = ""
    ) -> dict[str, Any]:
        return {
            "consent_ref": f"CNS-{app_no}-{who}{scope[:3]}{'' if reason == '01' else reason}",
            "party_id_number": id_number,
            "scope": scope,
            "reason": reason,
            "granted_at": granted.isoformat(),
            "expires_at": expires.isoformat(),
        }

    approval_ends = granted + timedelta(days=APPROVAL_DAYS)
    records = []
    for app in applications:
        app_no, id_number = app["application_no"], app["id_number"]
        kind = app.get("applicant_kind", "PERSON")
        scopes = ("BUREAU", "TAX", "CORE") if kind == "ENTERPRISE" else SCOPES
        life_ends = datetime.combine(
            maturity(approval_ends.date(), app["term_months"]), approval_ends.timetz()
        )
        record: dict[str, Any] = {
            "party": {"kind": kind, "id_number": id_number, "name": app["applicant_name"]},
            "application": {
                "application_no": app_no,
                "party_id_number": id_number,
                "product": app["product"],
                "requested_amount": str(app["requested_amount"]),
                "term_months": app["term_months"],
                "submitted_at": f"{app['submitted_on']}T09:00:00+08:00",
            },
            "consent": consent(app_no, id_number, "BUREAU", "01", approval_ends),
            "consents": [
                *(consent(app_no, id_number, s, "01", approval_ends) for s in scopes[1:]),
                *(consent(app_no, id_number, s, "02", life_ends) for s in scopes),
            ],
        }
        surety = app.get("guarantor_id_number")
        if surety:
            record["application"]["guarantor_id_number"] = surety
            record["guarantor"] = {
                "kind": "PERSON",
                "id_number": surety,
                "name": app["guarantor_name"],
            }
            record["guarantor_consents"] = [
                consent(app_no, surety, "BUREAU", "03", approval_ends, "G-")
            ]
        records.append(record)
    return records
