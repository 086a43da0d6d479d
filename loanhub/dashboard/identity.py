"""Who is asking: the dashboard's one question about a request, answered by an identity
provider the app is built with, so the same pages run behind two different logins.

- Inside Airflow (``dags/support/plugin.py``) the provider is Airflow's auth manager: the
  user of the bearer token or of the UI's cookie, the role from what Airflow lets them do.
  The dashboard has no users and no login page there.
- On its own (``loanhub dashboard``) it is ``LocalLogin``: the dashboard's users file, a
  server-side session per login (``loanhub.dashboard.auth``), the login page.

The provider also says how to refuse an anonymous request (its login page, or 401) and which
actor the audit trail records for what the user does.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from loanhub.dashboard.auth import User
from loanhub.dashboard.state import Dashboard, base_path


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user, the actor their actions are audited as, and the CSRF token the
    forms of this sign-in carry (bound to it: worthless to another session)."""

    user: User
    actor: str
    csrf: str


class IdentityProvider(Protocol):
    #: whether the dashboard serves its own ``/login`` and ``/logout``
    local_login: bool

    async def signed_in(self, request: Request) -> SignedIn | None:
        """The request's user; None when anonymous. May raise 403 (known, not allowed)."""
        ...

    def refuse(self, request: Request) -> Response:
        """The answer to an anonymous request."""
        ...


def csrf_for(board: Dashboard, credential: str) -> str:
    """A CSRF token bound to a credential (a session id, Airflow's token): a keyed hash, so
    a site that cannot read the credential cannot make the token."""
    return hmac.new(
        board.signer.secret_key, f"csrf|{credential}".encode(), hashlib.sha256
    ).hexdigest()


class LocalLogin:
    """The standalone dashboard's login: the signed cookie names a session of the users
    file; a session ended there (logout, new password, removed user) signs nobody in."""

    local_login = True

    async def signed_in(self, request: Request) -> SignedIn | None:
        board: Dashboard = request.app.state.dashboard
        session = board.session(request)
        name, sid = session.get("user"), session.get("sid")
        user = board.users.session_user(name, sid) if name and sid else None
        if user is None:
            return None
        return SignedIn(user, f"dashboard:{user.name}", csrf_for(board, sid))

    def refuse(self, request: Request) -> Response:
        wanted = request.url.path
        return RedirectResponse(f"{base_path(request)}/login?next={quote(wanted)}", 303)


__all__ = ["IdentityProvider", "LocalLogin", "SignedIn", "csrf_for"]
