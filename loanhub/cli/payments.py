"""``loanhub payments``: the tranches and what the gateway said of them, the operator's
re-instruction of a rejected one, and the payee account of an approval with none.

A payment the gateway rejects for a real reason (AC01 unknown account, AC04 closed account,
AM04 insufficient funds...) is recorded RJCT with its reason and raises one early warning;
nothing pays it again by itself. Once the cause is fixed (the customer's new account, funds
on the debtor account), an operator re-instructs it with a note: a new EndToEndId derived
from loan, tranche and instruction number, sent once by the next payment run (audited).

An approval whose applicant has no active deposit account at the core (a company that banks
elsewhere) waits as a ``payee_account`` item until an operator names the account (``payee``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from loanhub.cli.common import UrlOption, checked_person, console, engine, fail

app = typer.Typer(
    help="Tranches, their gateway status, re-instructing a rejected one, naming a payee.",
    no_args_is_help=True,
)


@app.command("list")
def payments_list(
    status: Annotated[
        str | None, typer.Option(help="PENDING, SENT, ACCP, ACSC or RJCT (default: all)")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Each tranche's current instruction (EndToEndId), status and reason, in words."""
    from sqlalchemy import select

    from connectors.payments import reason_text
    from schemas.lending import PaymentStatus
    from schemas.tables import disbursement

    known = [s.value for s in PaymentStatus]
    if status is not None and status not in known:
        fail(f"unknown status {status!r}: one of {', '.join(known)}", code=2)
    query = select(disbursement).order_by(disbursement.c.id)
    if status is not None:
        query = query.where(disbursement.c.status == status)
    table = Table("EndToEndId", "loan", "amount", "account", "status", "reason")
    with engine(url, migrated=True).connect() as conn:
        rows = conn.execute(query).mappings().all()
    for row in rows:
        reason = row["status_reason"]
        table.add_row(
            row["end_to_end_id"],
            row["loan_account"],
            f"{row['amount']:.2f}",
            f"…{row['creditor_account'][-4:]}",
            row["status"],
            f"{reason}: {reason_text(reason)}" if reason else "",
        )
    console.print(table)
    console.print(f"{len(rows)} tranche(s)")


@app.command("repay")
def payments_repay(
    tranche: Annotated[str, typer.Argument(help="the rejected instruction's EndToEndId")],
    note: Annotated[str, typer.Option("--note", help="what was fixed (kept in the audit chain)")],
    operator: Annotated[
        str, typer.Option("--operator", help="who re-instructs (audited)", callback=checked_person)
    ],
    account: Annotated[
        str | None, typer.Option("--account", help="the creditor account to pay now")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Re-instruct a rejected tranche: a new EndToEndId, sent once by the next payment run.
    Refused (exit 2) unless the tranche is rejected for a real reason, settled in every file
    and not re-instructed already."""
    from loanhub.flows.disburse import ReinstructionRefused, reinstruct

    store = engine(url, migrated=True)
    try:
        made = reinstruct(store, tranche, note=note, operator=operator, account=account)
    except ReinstructionRefused as exc:
        fail(str(exc), code=2)
    console.print(
        f"{tranche}: re-instructed as {made.end_to_end_id} (instruction {made.instruction}, "
        f"account …{made.creditor_account[-4:]}): the next payment run sends it once"
    )


@app.command("payee")
def payments_payee(
    application: Annotated[str, typer.Argument(help="the approved application's number")],
    account: Annotated[str, typer.Option("--account", help="the deposit account to pay into")],
    note: Annotated[str, typer.Option("--note", help="where the account comes from (audited)")],
    operator: Annotated[
        str, typer.Option("--operator", help="who names it (audited)", callback=checked_person)
    ],
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer", help="the borrower's core customer number, if the core did not know it"
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Name the account an approval with nothing to pay into is paid into (its payee_account
    item, NEEDS_HUMAN): the next payment run books the loan and pays it once. Refused (exit 2)
    for a bad account, an application that does not wait for one, or no note or operator."""
    from loanhub.flows.disburse import PayeeRefused, name_payee

    store = engine(url, migrated=True)
    try:
        named = name_payee(
            store, application, account=account, note=note, operator=operator, customer_no=customer
        )
    except PayeeRefused as exc:
        fail(str(exc), code=2)
    console.print(
        f"{application}: payee account …{named['account'][-4:]} named by {operator}: the next "
        "payment run books the loan and pays it once"
    )
