"""``loanhub quarantine``: the records a contract refused, by source, and reprocessing them
with the current mapping after a fix (``loanhub.flows.reprocessing``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from loanhub.cli.common import UrlOption, console, engine, operator_action, settings

app = typer.Typer(
    help="Quarantined records; reprocessing them after a mapping fix.", no_args_is_help=True
)


@app.command("list")
def quarantine_list(
    system: Annotated[str | None, typer.Option(help="e.g. tax, bureau, core")] = None,
    records: Annotated[
        bool, typer.Option("--records", help="each record with its reason, not only sources")
    ] = False,
    url: UrlOption = None,
) -> None:
    """The sources with records still quarantined (masked), and whether they can be
    reprocessed."""
    from loanhub.flows.reprocessing import open_rows, why_not
    from loanhub.platform.quarantine import open_sources

    store = engine(url, migrated=True)
    found = open_sources(store, system)
    table = Table("system", "source", "records", "mapping", "since", "reprocess")
    for s in found:
        table.add_row(
            s.source_system,
            escape(s.source_ref),
            str(s.records),
            s.mapping_version or "—",
            f"{s.since:%Y-%m-%d %H:%M}",
            escape(why_not(s.source_system) or "yes"),
        )
    console.print(table)
    if records:
        rows = Table("system", "source", "record", "field", "value (masked)", "reason")
        for s in found:
            for r in open_rows(store, s.source_system, s.source_ref):
                rows.add_row(
                    r.source_system,
                    escape(r.source_ref),
                    escape(r.record_ref),
                    escape(r.field_path or ""),
                    escape(r.value_masked or ""),
                    escape(r.reason),
                )
        console.print(rows)
    console.print(f"{sum(s.records for s in found)} record(s) in {len(found)} source(s)")


@app.command("reprocess")
def quarantine_reprocess(
    system: Annotated[str, typer.Argument(help="the source system: tax or bureau")],
    source: Annotated[
        str, typer.Argument(help="the source, as listed: tax:<file>, bureau:<report>")
    ],
    note: Annotated[str, typer.Option("--note", help="what was fixed (kept in the audit chain)")],
    url: UrlOption = None,
) -> None:
    """Map one source's kept copy again with the current mapping: records it takes are
    stored under the new mapping version and leave the quarantine, the others keep their new
    reason (audited)."""
    from loanhub.flows.reprocessing import reprocess
    from loanhub.runtime.operator import raw_evidence

    hub = settings()
    store = engine(url, migrated=True)
    done = operator_action(
        lambda: reprocess(
            store,
            system,
            source,
            actor=hub.actor,
            note=note,
            raw=raw_evidence(hub).get_raw,
        )
    )
    counts = (
        f"; the file: {done.records_in} records = {done.loaded} loaded + "
        f"{done.quarantined} quarantined"
        if done.records_in is not None
        else ""
    )
    console.print(
        f"{system} {escape(source)}: {done.moved} stored under mapping {done.mapping_version}, "
        f"{done.still} still quarantined{counts}"
    )
