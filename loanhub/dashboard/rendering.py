"""The pages' templates: Jinja2 with every printed value masked, and the filters they format
numbers and times with.

Masking sits in Jinja's ``finalize`` rather than in each page, so no template (and no chart:
their markup passes through it too) can print a resident ID, card or mobile in clear. The same
hook prints Python's ``N_`` strings in the request's language (``loanhub.dashboard.i18n``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from loanhub.dashboard import charts, i18n
from loanhub.dashboard.i18n import N_
from loanhub.flows.casefile.render import CaseBody
from loanhub.platform.masking import mask_text

PAGES = (
    ("overview", N_("Overview"), ""),
    ("sources", N_("Sources"), "/sources"),
    ("queues", N_("Queues"), "/queues"),
    ("approvals", N_("Approvals"), "/approvals"),
    ("warnings", N_("Warnings"), "/warnings"),
    ("files", N_("Files"), "/files"),
    ("case", N_("Case files"), "/case"),
)
"""The navigation: (key a page marks itself active with, label, path under the mount)."""


def _masked(value: Any) -> Any:
    """Jinja's finalize: every value printed into a page is masked, markup (charts, the
    translations of ``_()``) too; an ``N_`` string is translated first."""
    if isinstance(value, i18n.Text):
        value = value.translated()
    if isinstance(value, charts.Svg):
        return charts.Svg(mask_text(value))
    if isinstance(value, CaseBody):  # drawn (and masked) by the case file's own template
        return CaseBody(mask_text(value))
    if isinstance(value, Markup):  # escaped already (its parameters): not a second time
        return Markup(mask_text(value))  # noqa: S704 (masking replaces digits and names only)
    if isinstance(value, str):
        return mask_text(value)
    return value


def environment(zone: ZoneInfo) -> Environment:
    """The templates of ``loanhub/dashboard/templates``, times shown in ``zone``."""
    templates = Environment(
        loader=PackageLoader("loanhub.dashboard", "templates"),
        autoescape=select_autoescape(default=True),
        finalize=_masked,
        extensions=["jinja2.ext.i18n"],
    )
    # Every string a person reads is marked {{ _("...") }} (or {% trans %}). The environment
    # is shared by every request: its callables read the request's language from a context
    # variable (``i18n.LanguageMiddleware`` sets it), not from anything installed here.
    templates.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext,
        i18n.ngettext,
        newstyle=True,
        pgettext=i18n.pgettext,
        npgettext=i18n.npgettext,
    )
    templates.globals.update(language=i18n.current, languages=i18n.LANGUAGES)

    def when(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    def stamp(value: datetime) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    templates.filters.update(
        when=when, stamp=stamp, pct=_pct, hours=_hours, ms=_ms, ago=_ago, code=_code
    )
    return templates


@pass_context
def _code(context: Context, value: Any) -> Any:
    """A code's label in the request's language. Takes the context only so that Jinja does
    not fold ``"NEEDS_HUMAN" | code`` into a constant when it compiles the template (in the
    language of whoever asked first)."""
    return i18n.code(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 60:.0f} min" if value < 1 else f"{value:.1f} h"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _ago(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    seconds = max(delta.total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
