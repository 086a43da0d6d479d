"""``loanhub harvest`` and ``loanhub reviews``: what credit ops does in Airflow's UI (trigger
a data-gathering run, answer the referrals the rules hand to a person), from a terminal,
through Airflow's REST API. Airflow stays the one that checks who may do what."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from loanhub.cli.common import console, fail, first_line, settings

if TYPE_CHECKING:
    from connectors.airflow_api import AirflowApi

app = typer.Typer()  # top-level commands, merged into the root


@contextmanager
def _airflow() -> Iterator[AirflowApi]:
    """A signed-in client; an Airflow that does not answer, or refuses the login or a call, is
    one line and exit 1."""
    import requests

    from connectors.airflow_api import AirflowApi, AirflowApiError

    config = settings().airflow_api
    try:
        yield AirflowApi(config)
    except requests.HTTPError as exc:  # the login (the calls raise AirflowApiError)
        status = exc.response.status_code if exc.response is not None else "?"
        fail(f"Airflow's API at {config.url} refused the login of {config.user} ({status})")
    except requests.RequestException as exc:
        fail(f"Airflow's API at {config.url} did not answer: {type(exc).__name__}")
    except AirflowApiError as exc:
        fail(f"Airflow's API refused: {first_line(exc)}")


@app.command("harvest")
def harvest_command(
    application_nos: Annotated[
        list[str] | None, typer.Argument(help="none: every received")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=1000, help="applications per mapped task")
    ] = 10,
    follow: Annotated[bool, typer.Option(help="follow the run with a progress bar")] = True,
) -> None:
    """Trigger a data-gathering run (credit_harvest) through Airflow's REST API, as the
    trigger form would, and follow it to the end."""
    from rich.progress import BarColumn, Progress, TextColumn

    with _airflow() as api:
        conf = {"application_nos": application_nos or [], "batch_size": batch_size}
        run_id = api.trigger("credit_harvest", conf)
        console.print(f"credit_harvest run [bold]{run_id}[/] triggered")
        if not follow:
            return
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} tasks"),
            console=console,
        ) as progress:
            bar = progress.add_task("credit_harvest", total=None)

            def show(state: str, tasks: Counter) -> None:
                done = sum(tasks[s] for s in ("success", "skipped", "failed", "upstream_failed"))
                progress.update(
                    bar,
                    total=max(1, sum(tasks.values())),
                    completed=done,
                    description=f"credit_harvest ({state})",
                )

            state = api.follow("credit_harvest", run_id, show)
    console.print(f"run {run_id}: {state}")
    if state != "success":
        raise typer.Exit(1)


class ReviewOption(StrEnum):
    """The answers credit_decision's review offers (its HITL options)."""

    APPROVE = "Approve"
    REJECT = "Reject"
    RETURN = "Return"


@app.command("reviews")
def reviews_command(
    answer: Annotated[
        str | None, typer.Option(help="the application to answer (else: list what waits)")
    ] = None,
    option: Annotated[
        ReviewOption | None,
        typer.Option(help="Approve, Reject or Return: required with --answer, no default"),
    ] = None,
    comment: Annotated[str, typer.Option(help="kept with the decision")] = "",
) -> None:
    """The credit referrals waiting for you (LOANHUB_AIRFLOW_API__USER) in Airflow's Required
    actions, or the answer to one of them: the same answer as in the UI, through the API, so
    Airflow checks that you are an assigned approver and that nobody answered first.

    ``--answer`` needs ``--option``: a credit decision is never taken by a default (a
    forgotten option once approved)."""
    from connectors.airflow_api import AirflowApiError

    if answer is not None and option is None:
        fail(f"--answer {answer} needs --option Approve, Reject or Return: nothing sent", code=2)
    if answer is None and option is not None:
        fail("--option answers nothing without --answer APPLICATION_NO: nothing sent", code=2)
    with _airflow() as api:
        waiting = api.pending_reviews("credit_decision")
        if answer is None:
            for review in waiting:
                console.print(f"{review.subject}  (run {review.run_id}, #{review.map_index})")
            console.print(f"{len(waiting)} referral(s) waiting for {api.user}")
            return
        chosen = [r for r in waiting if r.subject.split(":")[0].endswith(f" {answer}")]
        if not chosen:
            console.print(f"no referral of {answer} waits for {api.user}")
            raise typer.Exit(1)
        assert option is not None  # refused above
        try:
            api.answer_review(chosen[0], option.value, comment)
        except AirflowApiError as exc:
            fail(f"refused: {first_line(exc)}")
    console.print(f"{answer}: {option.value if option else ''} by {api.user}")
