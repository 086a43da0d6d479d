"""The hub's languages and their message catalogues: Simplified Chinese (the bank's staff read
it) and English, the language the strings are written in.

What a person reads (the dashboard's pages, the case file on the page and in the archive) is
marked in English and translated from gettext catalogues made with Babel
(``loanhub/locale/<ll_CC>/LC_MESSAGES/messages.po``, compiled when first used: no ``.mo`` to
go stale beside its ``.po``). The language being spoken is a ``ContextVar``: the dashboard sets
it around each request (``loanhub.dashboard.i18n.LanguageMiddleware``), the archive around the
file it renders (``speaking``), so one shared Jinja environment serves every language.
``python -m devtools.i18n`` extracts, updates and checks the catalogues.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    tag: str  # BCP 47, as <html lang> and the cookie say it
    locale: str | None  # the catalogue's folder under locale/; None: the source, English
    name: str  # in the language itself, as a language switch shows it


LANGUAGES: dict[str, Language] = {
    "zh-CN": Language("zh-CN", "zh_CN", "中文"),
    "en": Language("en", None, "English"),
}
DEFAULT = "zh-CN"
SOURCE = "en"
"""The language the strings are written in; outside a request (the CLI, a test) text is it."""

_speaking: ContextVar[str] = ContextVar("loanhub_dashboard_language", default=SOURCE)


@functools.cache
def catalogue(tag: str) -> _gettext.NullTranslations:
    """The translations of a language, compiled from its ``.po`` on first use, once per
    process (fuzzy and empty entries left out: they show the English). On first use, not at
    import: every Airflow process loads the plugin, few of them serve a page."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    language = LANGUAGES[tag]
    if language.locale is None:
        return _gettext.NullTranslations()
    path = LOCALE_DIR / language.locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language.locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def current() -> str:
    """The language of the request being served (English outside one)."""
    return _speaking.get()


@contextmanager
def speaking(tag: str) -> Iterator[None]:
    """Text in ``tag`` inside the block, in this context only (this request, this thread)."""
    token = _speaking.set(tag if tag in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _speaking.reset(token)


def gettext(message: str) -> str:
    return catalogue(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogue(current()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return catalogue(current()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return catalogue(current()).npgettext(context, singular, plural, n)


