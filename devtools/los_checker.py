"""The LOS's checker, scripted for the demo: a bank employee (the LOS's second user, with the
higher limit) confirms in the LOS the approvals it held for a second approver (待复核), as a
person would in a browser (plain form posts; nothing of the hub's). The hub notices on its
next disbursement run, which reads every held approval's status again.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import requests
from sqlalchemy import Engine, select

from schemas.tables import decision

TOKEN = re.compile(r'name="org.apache.struts.taglib.html.TOKEN" value="(\w+)"')


def held_in_store(engine: Engine) -> list[tuple[str, Decimal, int, Decimal]]:
    """The hub's approvals the LOS holds for its checker, as the checker's form asks for them
    (number, amount, term, annual rate in percent)."""
    with engine.connect() as conn:
        return [
            (r.application_no, r.approved_amount, r.term_months, r.annual_rate)
            for r in conn.execute(
                select(
                    decision.c.application_no,
                    decision.c.approved_amount,
                    decision.c.term_months,
                    decision.c.annual_rate,
                ).where(decision.c.los_status == "PENDING_REVIEW")
            )
        ]


def confirm_held(
    los: dict[str, Any], held: list[tuple[str, Decimal, int, Decimal]]
) -> tuple[str, list[str]]:
    """Approve each held application (number, amount, term, annual rate in percent) as the
    LOS's checker; returns the checker's name and the applications it confirmed."""
    return answer_held(los, held, "APPROVE", "复核通过")


def reject_held(
    los: dict[str, Any], held: list[tuple[str, Decimal, int, Decimal]]
) -> tuple[str, list[str]]:
    """The checker turns the held approvals down (复核不通过) instead."""
    return answer_held(los, held, "REJECT", "复核不通过")


def answer_held(
    los: dict[str, Any],
    held: list[tuple[str, Decimal, int, Decimal]],
    decision: str,
    comment: str,
) -> tuple[str, list[str]]:
    """The LOS's checker answers each held application with ``decision`` (APPROVE, REJECT or
    RETURN) in the LOS's own form; returns the checker's name and the applications answered."""
    checker = los["checker"]  # the simulators' file only: no connection of the hub's has it
    http = requests.Session()
    http.post(
        los["url"] + "login",
        data={"username": checker["username"], "password": checker["password"]},
        timeout=30,
    ).raise_for_status()
    confirmed = []
    for number, amount, term, rate in held:
        page = http.get(los["url"] + "app", params={"no": number}, timeout=30)
        token = TOKEN.search(page.content.decode("gbk"))
        form = {
            "no": number,
            "decision": decision,
            "amount": f"{amount:.2f}",
            "term": str(term),
            "rate": f"{rate}",
            "conditions": "",
            "comment": comment,
            "org.apache.struts.taglib.html.TOKEN": token.group(1) if token else "",
        }
        body = "&".join(f"{k}={requests.utils.quote(v.encode('gbk'))}" for k, v in form.items())
        # the LOS's gateway may answer 504 after recording it, as for the hub: not resent
        http.post(
            los["url"] + "decide",
            data=body,
            timeout=30,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        confirmed.append(number)
    return checker["username"], confirmed
