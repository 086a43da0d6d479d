"""The intake of a synthetic batch on its own, without Airflow: migrate the store, load a
seeded batch of applicants (a few deliberately mistyped, to show quarantine), print a summary
and check the audit chain.

It was ``loanhub demo``; it lives here because it needs ``devtools.synthetic``, and nothing
the wheel ships may import devtools. ``make demo`` (``devtools.demo``) runs the whole
lifecycle through the DAGs instead.

Run: ``python -m devtools.intake_demo [--seed 7 --applicants 40 --url URL]``; exit 1 when the
audit chain is broken.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.table import Table

from devtools.synthetic import applicant_batch
from loanhub.cli.common import UrlOption, console, engine, settings
from loanhub.flows.intake import load_applicants
from loanhub.platform import audit
from loanhub.platform.db import upgrade
from loanhub.platform.masking import install_log_masking

app = typer.Typer(add_completion=False)


@app.command()
def intake_demo(
    seed: Annotated[int, typer.Option(help="seed of the synthetic batch")] = 7,
    applicants: Annotated[int, typer.Option(min=0, help="size of the batch")] = 40,
    url: UrlOption = None,
) -> None:
    """Migrate the embedded store, load a seeded batch of applicants, print a summary."""
    install_log_masking()  # as the loanhub CLI does: the batch is full of identifiers
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    store = engine(url)
    upgrade(store)
    batch = applicant_batch(seed, applicants)
    summary = load_applicants(
        store, batch, source_ref=f"synthetic-seed-{seed}", actor=settings().actor
    )
    table = Table(title=f"intake of synthetic batch (seed {seed})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, count in (
        ("records received", summary.received),
        ("applications loaded", summary.loaded),
        ("already present (re-run)", summary.already_present),
        ("  of which persons", summary.persons),
        ("  of which enterprises", summary.enterprises),
        ("quarantined", summary.quarantined_records),
    ):
        table.add_row(label, str(count))
    console.print(table)
    for reason, count in summary.quarantined.most_common():
        console.print(f"  quarantined x{count}: {reason}")
    report = audit.verify(store)
    console.print(f"store: {store.url.render_as_string(hide_password=True)}")
    console.print(f"audit chain: {'intact' if report.ok else 'BROKEN'}, {report.checked} events")
    if not report.ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
