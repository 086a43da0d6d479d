"""The pages' templates: Jinja2 with every printed value masked, and the filters they format
numbers and times with.

Masking sits in Jinja's ``finalize`` rather than in each page, so no template (and no chart:
their markup passes through it too) can print a resident ID, card or mobile in clear.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from loanhub.dashboard import charts
from loanhub.flows.casefile.render import CaseBody
from loanhub.platform.masking import mask_text

PAGES = (
    ("overview", "Overview", ""),
    ("sources", "Sources", "/sources"),
    ("queues", "Queues", "/queues"),
    ("approvals", "Approvals", "/approvals"),
    ("warnings", "Warnings", "/warnings"),
    ("files", "Files", "/files"),
    ("case", "Case files", "/case"),
)
"""The navigation: (key a page marks itself active with, label, path under the mount)."""


def _masked(value: Any) -> Any:
    """Jinja's finalize: every value printed into a page is masked, markup (charts) too."""
    if isinstance(value, charts.Svg):
        return charts.Svg(mask_text(value))
    if isinstance(value, CaseBody):  # drawn (and masked) by the case file's own template
        return CaseBody(mask_text(value))
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
    # Every string a person reads is marked {{ _("...") }} (or {% trans %}); the catalogues
    # that translate them are installed per request, English until they are.
    templates.install_null_translations(newstyle=True)

    def when(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    templates.filters.update(when=when, pct=_pct, hours=_hours, ms=_ms, ago=_ago)
    return templates


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
