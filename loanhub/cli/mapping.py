"""``loanhub mapping``: try a source -> canonical mapping on a file before a DAG meets it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from loanhub.cli.common import console, fail, first_line
from loanhub.platform.masking import mask_text

app = typer.Typer(help="Source -> canonical mappings.", no_args_is_help=True)

SourceFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the source file")
]


def _params(pairs: list[str]) -> dict[str, str]:
    """``key=value`` options as a dict; a pair without ``=`` is a usage error, not a crash."""
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="--param")
    return dict(pair.split("=", 1) for pair in pairs)


@app.command("check")
def mapping_check(
    source: Annotated[str, typer.Argument(help="mapping name, e.g. bureau_personal")],
    path: SourceFile,
    param: Annotated[list[str] | None, typer.Option(help="key=value given to the mapping")] = None,
) -> None:
    """Map a source file; print the canonical records (masked) or each error with its path."""
    from loanhub.platform.canonical import sha256_hex
    from mappings.engine import Mapping, MappingError, available
    from schemas.types import utcnow

    params = _params(param or [])
    if source not in available():  # a name, never a path (../../elsewhere would be read)
        fail(f"no mapping {source!r}; known: {', '.join(available())}", 2)
    try:
        mapping = Mapping.load(source)
    except MappingError as exc:
        console.print(f"[red]{exc}[/]; known: {', '.join(available())}")
        raise typer.Exit(2) from exc
    data = path.read_bytes()
    try:
        result = mapping.map(
            data, fetched_at=utcnow(), raw_payload_hash=sha256_hex(data), params=params
        )
    except (ValueError, SyntaxError) as exc:  # lxml's XMLSyntaxError is a SyntaxError
        fail(f"{path} is not a {mapping.name} source: {mask_text(first_line(exc))}")
    for name, records in result.records.items():
        for record in records:
            body = record.model.model_dump(mode="json", exclude={"lineage"})
            print(mask_text(json.dumps({"record": name, **body}, ensure_ascii=False)))
    for refused in result.refused:  # source text is not rich markup: escape it
        where = escape(refused.field_path or refused.record)
        console.print(
            f"[red]refused[/] {where}: {escape(mask_text(refused.reason))} "
            f"(value {escape(mask_text(repr(refused.value)))})"
        )
    mapped = sum(len(records) for records in result.records.values())
    console.print(
        f"{result.seen} records seen, {mapped} mapped, {result.refused_records} "
        f"refused; mapping {mapping.name} version {mapping.version}"
    )
    if result.refused:
        raise typer.Exit(1)
