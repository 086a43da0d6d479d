"""The dashboard's languages: Simplified Chinese by default (the bank's credit-ops staff read
it), English a click away, from gettext message catalogues rather than strings in templates.

- Templates mark every string a person reads as ``{{ _("English text") }}`` (newstyle:
  ``_("%(n)s items", n=x)``); Python marks the strings it hands to a page with ``N_`` here
  (``N_("Airflow did not answer: %(why)s", why=...)``), which stays English until a page prints
  it: Jinja's ``finalize`` (``loanhub.dashboard.rendering``) and the charts translate it then.
- The language of a request is its ``loanhub_lang`` cookie (``/language/<tag>`` sets it), else
  the setting ``LOANHUB_DASHBOARD__LANGUAGE`` (``zh-CN``). The browser's Accept-Language is not
  read: bank PCs often run an English Windows, and Chinese first means Chinese unless asked.
- One Jinja environment serves every request, so the language is not installed in it: its
  gettext callables read the request's language from a ``ContextVar`` that
  ``LanguageMiddleware`` sets around each request (each request, and the worker thread a sync
  route runs in, has its own copy), so two requests in two languages never see each other's.
- Codes the store and the CLI speak (work item states, call outcomes, severities, ...) stay
  codes in English and get a label per language: ``code("NEEDS_HUMAN")`` is 待人工处理 in
  Chinese (the ``code`` context of the catalogue, listed in ``CODES``). Identifiers that are
  data (DAG ids, work item kinds, field paths) stay as they are in both.

The catalogues (``loanhub.platform.languages``: the case file speaks them too) are
``loanhub/locale/<ll_CC>/LC_MESSAGES/messages.po``, compiled when first used (no
``.mo`` to go stale beside its ``.po``); ``python -m devtools.i18n`` extracts, updates and
checks them (docs/operations.md, "Languages of the dashboard").
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loanhub.platform.languages import (
    DEFAULT,
    LANGUAGES,
    SOURCE,
    Language,
    catalogue,
    current,
    gettext,
    ngettext,
    npgettext,
    pgettext,
    speaking,
)

__all__ = [  # the languages' core is the platform's; the dashboard speaks through this module
    "CODES",
    "COOKIE",
    "DEFAULT",
    "LANGUAGES",
    "N_",
    "P_",
    "SOURCE",
    "Language",
    "LanguageMiddleware",
    "Text",
    "catalogue",
    "code",
    "current",
    "gettext",
    "ngettext",
    "npgettext",
    "pgettext",
    "speaking",
    "text",
]

COOKIE = "loanhub_lang"
CODE = "code"
"""The catalogue context of codes' labels (``code``)."""


def chosen(cookie: str | None, default: str = DEFAULT) -> str:
    """A request's language: its cookie's, when it names one the dashboard speaks."""
    return cookie if cookie in LANGUAGES else default


class Text(str):
    """An English message marked for translation (``N_``): a plain ``str`` (English, its
    parameters filled in) to everything but a page, which prints ``translated()``."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any]) -> Text:
        made = super().__new__(cls, msgid % params)
        made.msgid = msgid
        made.params = params
        return made

    def translated(self) -> str:
        return gettext(self.msgid) % self.params


def N_(msgid: str, /, **params: Any) -> Text:
    """Mark a string of Python page code for the catalogues; it is translated when printed.
    ``params`` fill its ``%(name)s`` placeholders (after translation, in either language); as
    in the templates' ``_()``, a message is always %-formatted, so a literal % is ``%%``."""
    return Text(msgid, params)


def P_(context: str, msgid: str) -> str:
    """Mark a string with a context for the catalogues (``code`` labels); returns it as is."""
    return msgid


def text(value: str) -> str:
    """A string for the page in the request's language: a ``Text`` translated, any other
    string looked up as it is (a chart title written plainly is found too)."""
    if isinstance(value, Text):
        return value.translated()
    return gettext(value) if value else value


_NUMBERED = re.compile(r"(?P<stem>[a-z][a-z_]*_)(?P<n>\d+)")


def code(value: Any) -> Any:
    """A code's label in the request's language (``NEEDS_HUMAN``: 待人工处理); a code that
    ends in a number (``dpd_crossed_30``) by its family's label (``dpd_crossed_%(n)s``); a
    code without a label, or a value that is not a string, as it is."""
    if isinstance(value, Text):
        return value.translated()
    if not isinstance(value, str) or not value:
        return value
    label = pgettext(CODE, value)
    numbered = _NUMBERED.fullmatch(value) if label == value else None
    if numbered:
        family = numbered["stem"] + "%(n)s"
        said = pgettext(CODE, family)
        if said != family:
            return said % {"n": int(numbered["n"])}
    return label


CODES = (
    # work item states (schemas.hub.WorkItemState)
    P_("code", "NEW"),
    P_("code", "IN_PROGRESS"),
    P_("code", "DONE"),
    P_("code", "CLOSED"),
    P_("code", "FAILED"),
    P_("code", "NEEDS_HUMAN"),
    P_("code", "IN_DOUBT"),
    # outcomes of calls to legacy systems (kernel.calls.CallOutcome)
    P_("code", "ok"),
    P_("code", "business"),
    P_("code", "transient"),
    P_("code", "contract"),
    P_("code", "in_doubt"),
    P_("code", "needs_human"),
    P_("code", "error"),
    # Airflow's DAG run states (figures.RUN_STATES, and what else dag_run may hold)
    P_("code", "failed"),
    P_("code", "running"),
    P_("code", "queued"),
    P_("code", "success"),
    P_("code", "upstream_failed"),
    P_("code", "none"),
    # files taken from legacy systems (schemas.hub.FileState)
    P_("code", "RECEIVED"),
    P_("code", "LOADED"),
    P_("code", "PARTIAL"),
    P_("code", "REJECTED"),
    # early warnings' severities (schemas.lending.WarningSeverity)
    P_("code", "HIGH"),
    P_("code", "WATCH"),
    P_("code", "INFO"),
    # decisions (schemas.lending.DecisionOutcome)
    P_("code", "APPROVE"),
    P_("code", "REJECT"),
    P_("code", "RETURN"),
    # the steps of an application's way (figures.STEPS)
    P_("code", "gathering data"),
    P_("code", "deciding"),
    P_("code", "paying out"),
    P_("code", "settling"),
    # early warnings' rules (loanhub.flows: warnings, postloan, disburse, repayments,
    # reconciliation); dpd_crossed_<days> is one family, its days set in the settings
    P_("code", "dpd_crossed_%(n)s"),
    P_("code", "missed_installment"),
    P_("code", "partial_payment"),
    P_("code", "overdue_other_lender"),
    P_("code", "tax_rating_downgrade"),
    P_("code", "contributions_owed"),
    P_("code", "contributions_stopped"),
    P_("code", "consent_lapsing"),
    P_("code", "payment_rejected"),
    P_("code", "extract_rejected"),
    P_("code", "extract_missing_loan"),
    P_("code", "core_dpd_mismatch"),
    # the dashboard's roles (loanhub.dashboard.auth.Role)
    P_("code", "viewer"),
    P_("code", "operator"),
)
"""Every code with a label: the catalogues' ``code`` entries are extracted from here, and a
test checks each enum the pages show has all its members here."""


class LanguageMiddleware:
    """Serves each request in its language (``speaking``) and says which (Content-Language).

    Pure ASGI, so the routes, their dependencies, the exception handlers and the worker thread
    a sync route runs in all run inside the context it sets."""

    def __init__(self, app: ASGIApp, default: str = DEFAULT) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tag = chosen(HTTPConnection(scope).cookies.get(COOKIE), self.default)

        async def with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("content-language", tag)
            await send(message)

        with speaking(tag):
            await self.app(scope, receive, with_language)
