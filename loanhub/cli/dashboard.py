"""``loanhub dashboard`` and ``loanhub dashboard-user``: serve the monitoring dashboard on
its own, and keep the book of who may log in to it (a file of password hashes). Inside
Airflow the dashboard has no users of its own: Airflow's auth manager signs people in.

Every change of the book is audited in the store, as ``cli:<the OS user>``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from loanhub.cli.common import checked_person, console, engine, fail, os_actor, settings


def _audit(store: Engine, action: str, name: str, after: dict[str, Any] | None = None) -> None:
    from loanhub.dashboard.auth import audited

    audited(
        store,
        actor=os_actor(),
        action=action,
        subject=name,
        after=after,
    )


app = typer.Typer()  # the top-level ``dashboard`` command, merged into the root
users_app = typer.Typer(help="Who may log in to the dashboard.", no_args_is_help=True)


@app.command("dashboard")
def dashboard_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8790,
) -> None:
    """Serve the monitoring dashboard on its own (it also runs inside Airflow's API server,
    under /loanhub, as a plugin, behind Airflow's login). Users come from
    ``loanhub dashboard-user add``; this login works while Airflow is down."""
    import uvicorn

    from loanhub.dashboard.app import create_app

    hub = settings()
    if not hub.dashboard_users_path.exists():
        console.print(
            f"[yellow]no users yet ({hub.dashboard_users_path}): "
            "add one with `loanhub dashboard-user add NAME --role viewer`[/]"
        )
    uvicorn.run(create_app(hub), host=host, port=port, log_level="info")


@users_app.command("add")
def dashboard_user_add(
    name: str,
    role: Annotated[str, typer.Option(help="viewer or operator")] = "viewer",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Add a user (or change one's role and password, which ends their open sessions); the
    password (12 characters or more, three kinds, not the name) is kept as a hash."""
    from loanhub.dashboard.auth import Role, UserBook

    checked_person(name)  # a user's name is the actor of all they do (dashboard:<name>)
    try:
        chosen = Role(role)
    except ValueError as exc:
        roles = " or ".join(r.value for r in Role)
        raise typer.BadParameter(f"{role!r} is not a role: {roles}", param_hint="--role") from exc
    store = engine(None, migrated=True)  # first: a change the audit cannot record is not made
    try:
        new = UserBook(settings().dashboard_users_path).put(name, chosen, password)
    except ValueError as exc:  # an empty name, a weak password
        fail(str(exc))
    action = "dashboard.user_added" if new else "dashboard.user_changed"
    _audit(store, action, name, {"role": chosen.value, "sessions": "ended"})
    console.print(f"{name}: {role}")


@users_app.command("remove")
def dashboard_user_remove(name: str) -> None:
    """Remove a user; their open sessions end with them."""
    from loanhub.dashboard.auth import UserBook

    book = UserBook(settings().dashboard_users_path)
    if name not in book.names():
        fail(f"no user {name}")
    store = engine(None, migrated=True)  # first: a change the audit cannot record is not made
    book.remove(name)
    _audit(store, "dashboard.user_removed", name)
    console.print(f"removed {name}")


@users_app.command("list")
def dashboard_user_list() -> None:
    """Who may log in, and with which role."""
    from loanhub.dashboard.auth import UserBook

    for name, role in UserBook(settings().dashboard_users_path).names().items():
        console.print(f"{name}  {role.value}")
