"""For the demo: an operator names the payee account of every approval waiting for one.

A company the simulated core does not know has no account to pay into, and the simulated
gateway pays only accounts its core holds. Here the settlement account of a corporate
customer that applies for nothing plays the account the company opened at the branch; the
operator names it (``loanhub payments payee``'s ``name_payee``, audited), and the next
``loan_disbursement`` run books and pays the loan once.
"""

from __future__ import annotations

import requests
from sqlalchemy import Engine

from loanhub.flows.disburse import PAYEE_KIND, name_payee
from loanhub.platform.ledger import WorkItemLedger
from schemas.hub import WorkItemState


def name_waiting_payees(engine: Engine, admin_url: str, operator: str = "ops.demo") -> list[str]:
    """Name an account for each ``payee_account`` item waiting; returns their applications."""
    waiting = WorkItemLedger(engine).items(WorkItemState.NEEDS_HUMAN, kind=PAYEE_KIND)
    if not waiting:
        return []
    dataset = requests.get(f"{admin_url}/dataset", timeout=60).json()
    applying = {a["id_number"] for a in dataset["applications"]}
    spare = [c for c in dataset.get("corporate_customers", []) if c["id_number"] not in applying]
    named = []
    for item, holder in zip(waiting, spare, strict=False):
        name_payee(
            engine,
            item.business_key,
            account=holder["accounts"][0]["account_no"],
            customer_no=holder["customer_no"],
            note="demo: the company's settlement account, opened at the branch",
            operator=operator,
        )
        named.append(item.business_key)
    return named
