"""``loanhub extract``: the core's nightly repayment extract (LNREPAY), checked or loaded by
hand, as an engineer does when a night's file was refused."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from loanhub.cli.common import UrlOption, console, engine, fail, settings
from loanhub.platform.db import ensure_current
from loanhub.platform.masking import mask_text

app = typer.Typer(help="The core's nightly repayment extract.", no_args_is_help=True)

ExtractFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="an LNREPAY file")
]


@app.command("check")
def extract_check(
    path: ExtractFile,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Decode and validate an LNREPAY file without loading it; exit 1 if it would be rejected."""
    from mappings.lnrepay import check_extract_file

    result = check_extract_file(path)  # chunk by chunk: never the whole file in memory
    summary = result.summary()
    summary.pop("quarantined_records")
    summary["quarantined_records"] = [
        {**q, "loan_account": mask_text(q["loan_account"])} for q in result.quarantined_records
    ]
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        for key, value in summary.items():
            console.print(f"{key:>22}: {value}")
    if result.rejected:
        raise typer.Exit(1)


@app.command("load")
def extract_load(path: ExtractFile, url: UrlOption = None) -> None:
    """Load an LNREPAY file into the store once (PostgreSQL: COPY + merge)."""
    from loanhub.flows.repayments import load_extract
    from loanhub.platform.receipts import FileReceiptBook

    hub = settings()
    store = engine(url)
    ensure_current(store)  # migrated only by a role that owns the schema
    report = load_extract(
        store,
        path,  # streamed from disk, chunk by chunk
        path.name,
        FileReceiptBook(store),
        hub.data_dir / "files" / "core",
        hub.actor,
    )
    console.print(
        f"{report.file}: {report.state} (receipt {report.receipt}); inserted "
        f"{report.inserted}, updated {report.updated}, unchanged {report.unchanged}"
    )
    if report.state == "REJECTED":
        console.print(f"[red]rejected[/]: {report.check['rejected']}")
        raise typer.Exit(1)


@app.command("reconcile")
def extract_reconcile(
    business_date: Annotated[
        datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="the business date")
    ],
    url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the totals as JSON")] = False,
) -> None:
    """The night's loaded extract against the hub: active loans missing from it, days past
    due the core and the hub disagree on, totals; each discrepancy raised as a warning once.
    Exit 1 when no extract of that night was loaded."""
    from loanhub.flows.reconciliation import reconcile_night

    hub = settings()
    store = engine(url, migrated=True)
    recon = reconcile_night(store, business_date.date(), hub.reconciliation, hub.actor)
    if recon is None:
        fail(f"no extract of {business_date:%Y-%m-%d} was loaded: nothing to reconcile")
    totals = recon.totals()
    totals["missing"] = [mask_text(a) for a in totals["missing"]]
    totals["dpd_mismatch_loans"] = [mask_text(a) for a in totals["dpd_mismatch_loans"]]
    if as_json:
        print(json.dumps(totals, ensure_ascii=False, indent=2))
        return
    for key, value in totals.items():
        console.print(f"{key:>18}: {value}")
