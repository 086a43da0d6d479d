"""``loanhub case``: one application's case file at the terminal, masked.

``loanhub case APP`` prints every section in a few lines (``--json``: the whole read model as
JSON, every string masked); ``loanhub case --id-number ID`` lists the applications whose
applicant or guarantor holds that resident ID or USCC: a search by a person's identity, so it
is written to the audit chain (the ID masked, the actor from the settings) whatever it finds.
"""

from __future__ import annotations

import json
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from loanhub.cli.common import UrlOption, engine, fail, settings

app = typer.Typer()


@app.command("case")
def case_command(
    application_no: Annotated[
        str | None, typer.Argument(help="the application number", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the whole case file as JSON")] = False,
    id_number: Annotated[
        str | None,
        typer.Option(
            "--id-number", help="find the applications of a resident ID or USCC (audited)"
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """An application's case file (masked): intake and consents, calls, facts and their
    lineage, the rules factor by factor, decision and LOS, loan, repayments, warnings, audit."""
    from loanhub.flows.casefile import CaseNotFound, build, lookup
    from loanhub.flows.casefile.render import as_json as image
    from loanhub.flows.casefile.render import render_text
    from loanhub.platform.masking import mask_id, mask_text
    from schemas.identifiers import InvalidIdentifier

    if (application_no is None) == (id_number is None):
        fail("name an application (loanhub case APP) or an ID (--id-number ID), one of them", 2)
    if id_number is not None:
        hub = settings()
        try:
            found = lookup.by_id_number(
                engine(url, migrated=True), id_number, actor=hub.actor, channel="cli"
            )
        except InvalidIdentifier:
            fail(f"{mask_text(id_number)!r} is neither a resident ID nor a USCC", 2)
        shown = mask_id(id_number.strip().upper())
        if not found:
            fail(f"no application names {shown} (the search is audited)")
        if as_json:
            typer.echo(json.dumps({"id_number": shown, "applications": found}))
            return
        typer.echo(f"{len(found)} application(s) of {shown} (the search is audited):")
        for number in found:
            typer.echo(f"  {number}    loanhub case {number}")
        return
    assert application_no is not None
    hub = settings()
    zone = ZoneInfo(hub.timezone)
    try:
        case = build(
            engine(url, migrated=True),
            application_no,
            zone=zone,
            risk_classes=hub.warnings.risk_classes,
            evidence_root=hub.data_dir / "evidence",
            screens_root=hub.screen_evidence_dir,
        )
    except CaseNotFound as exc:
        fail(mask_text(str(exc)))
    if as_json:
        typer.echo(json.dumps(image(case), ensure_ascii=False, indent=2))
    else:
        typer.echo(render_text(case, zone=zone))
