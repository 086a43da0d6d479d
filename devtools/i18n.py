"""The dashboard's message catalogues: extract the strings, update the ``.po`` files, list what
is left to translate, and check them (``tests/loanhub/dashboard/test_i18n.py`` runs the check).

    python -m devtools.i18n update            extract, merge into every catalogue, list the gaps
    python -m devtools.i18n check             exit 1 on any gap or broken entry (as the test)
    python -m devtools.i18n todo > todo.json  the untranslated entries, to fill in
    python -m devtools.i18n fill todo.json    write the filled-in msgstr back, then check
    python -m devtools.i18n extract [FILE]    the template (.pot), to FILE or var/i18n/
    python -m devtools.i18n init LOCALE       start a new language's catalogue (e.g. zh_TW)

``--locale zh_CN`` picks one catalogue (default: every one under loanhub/locale/).
What is extracted is set in ``babel.cfg`` (which files) and ``KEYWORDS`` here (which calls).
Catalogues are written without line numbers and without obsolete entries, so a diff shows
the strings that changed and nothing else; new strings come in empty, never fuzzy-matched to
a neighbour (a guessed translation is worse than none: the check would not see it).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from babel.util import pathmatch

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "babel.cfg"
LOCALE_DIR = ROOT / "loanhub" / "locale"
DOMAIN = "messages"
WIDTH = 100
HEADER = """\
# The loanhub dashboard's strings in {locale}.
# Made and updated by `python -m devtools.i18n` (docs/operations.md, "Languages of the
# dashboard"): edit the msgstr lines only; the msgids come from the code."""

KEYWORDS: dict[str, Any] = {
    **DEFAULT_KEYWORDS,  # _, gettext, ngettext, pgettext, npgettext, ...
    "N_": None,  # loanhub.dashboard.i18n.N_: a Python string a page prints
    "P_": ((1, "c"), 2),  # loanhub.dashboard.i18n.P_: a code's label, context first
    "hbar": (1,),  # the charts' titles (loanhub.dashboard.charts), marked or not
    "stacked": (1,),
    "histogram": (1,),
    "HTTPException": (2,),  # a route's refusal, shown on the error page
}
COMMENT_TAGS = ("Translators:",)
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa%])")


# -- extraction -------------------------------------------------------------------------------


def _files(pattern: str) -> list[Path]:
    """The files under the repository a ``babel.cfg`` pattern names (new, untracked ones too)."""
    fixed = pattern.split("*", 1)[0].rsplit("/", 1)[0] if "*" in pattern else pattern
    base = ROOT / fixed
    if base.is_file():
        return [base]
    return sorted(
        p
        for p in base.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and pathmatch(pattern, p.relative_to(ROOT).as_posix())
    )


def extract() -> Catalog:
    """Every string the dashboard marks, from its templates and its Python, in file order."""
    with MAPPING.open(encoding="utf-8") as cfg:
        methods, options = parse_mapping_cfg(cfg)
    template = Catalog(project="loanhub", domain=DOMAIN, fuzzy=False)
    seen: set[Path] = set()
    for pattern, method in methods:
        for path in _files(pattern):
            if path in seen:
                continue
            seen.add(path)
            where = path.relative_to(ROOT).as_posix()
            for line, msgid, comments, context in extract_from_file(
                method, str(path), KEYWORDS, COMMENT_TAGS, options.get(pattern, {})
            ):
                template.add(msgid, None, [(where, line)], auto_comments=comments, context=context)
    return template


def write_template(path: Path) -> int:
    template = extract()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, template, width=WIDTH, include_lineno=False)
    return len(template)


# -- catalogues -------------------------------------------------------------------------------


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def locales() -> list[str]:
    return sorted(p.parents[1].name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def read(locale: str) -> Catalog:
    with po_path(locale).open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


_DATES = re.compile(rb'^"(POT-Creation|PO-Revision)-Date: .*$', re.MULTILINE)


def write(locale: str, catalog: Catalog) -> None:
    """Write a catalogue, unless nothing but its dates would change (no churn in diffs)."""
    catalog.project, catalog.version = "loanhub", "1"
    catalog.msgid_bugs_address = catalog.last_translator = ""
    catalog.language_team = f"loanhub {locale}"
    catalog.revision_date = datetime.now(UTC)
    made = io.BytesIO()
    write_po(
        made, catalog, width=WIDTH, include_lineno=False, ignore_obsolete=True, sort_output=False
    )
    path = po_path(locale)
    if path.exists() and _DATES.sub(b"", path.read_bytes()) == _DATES.sub(b"", made.getvalue()):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(made.getvalue())


def update(locale: str, template: Catalog | None = None) -> tuple[list[str], list[str]]:
    """Merge the extracted strings into a catalogue: new ones empty, gone ones dropped. The
    msgids added and removed."""
    template = extract() if template is None else template
    catalog = read(locale)
    before = {_key(m) for m in _entries(catalog)}
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    after = {_key(m) for m in _entries(catalog)}
    write(locale, catalog)
    return sorted(map(_show, after - before)), sorted(map(_show, before - after))


def init(locale: str) -> Path:
    """A new language's catalogue, every string empty."""
    path = po_path(locale)
    if path.exists():
        raise SystemExit(f"{path.relative_to(ROOT)} exists: run `update` instead")
    catalog = Catalog(
        locale=locale,
        domain=DOMAIN,
        header_comment=HEADER.format(locale=locale),
        fuzzy=False,
    )
    catalog.update(extract(), no_fuzzy_matching=True)
    write(locale, catalog)
    return path


# -- checks -----------------------------------------------------------------------------------


def _entries(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]  # not the header


def _key(message: Message) -> tuple[str | None, str]:
    msgid = message.id[0] if isinstance(message.id, tuple | list) else message.id
    return (message.context, msgid)


def _show(key: tuple[str | None, str]) -> str:
    context, msgid = key
    return f"[{context}] {msgid}" if context else msgid


def placeholders(text: str) -> Counter[tuple[str | None, str]]:
    """The %-directives of a string (``%(n)s``, ``%%``): what Python fills in or keeps."""
    return Counter((m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(text))


def _formats(text: str, names: set[str]) -> bool:
    """Whether %-formatting with these names works: Jinja's newstyle ``_()`` and ``N_``
    always %-format, so a lone % breaks the page."""
    try:
        text % {n: 1 for n in names}
    except (ValueError, TypeError, KeyError):
        return False
    return True


@dataclass(frozen=True)
class Problem:
    kind: str  # untranslated | fuzzy | placeholders | format | missing | obsolete
    entry: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.entry}" + (f" ({self.detail})" if self.detail else "")


def problems(
    locale: str, template: Catalog | None = None, catalog: Catalog | None = None
) -> list[Problem]:
    """What is wrong with a catalogue: strings the code marks that it lacks or leaves empty
    (or fuzzy: not used), entries whose placeholders differ from their msgid's or that do
    not format, and entries for strings the code no longer has (run ``update``)."""
    template = extract() if template is None else template
    catalog = read(locale) if catalog is None else catalog
    found: list[Problem] = []
    extracted = {_key(m) for m in _entries(template)}
    held = {_key(m): m for m in _entries(catalog)}
    for key in sorted(extracted - held.keys(), key=str):
        found.append(Problem("missing", _show(key), "run `python -m devtools.i18n update`"))
    for key in sorted(held.keys() - extracted, key=str):
        found.append(Problem("obsolete", _show(key), "run `python -m devtools.i18n update`"))
    for key, message in held.items():
        ids = list(message.id) if isinstance(message.id, tuple | list) else [message.id]
        strings = (
            list(message.string) if isinstance(message.string, tuple | list) else [message.string]
        )
        if not all(strings):
            found.append(Problem("untranslated", _show(key)))
            continue
        if message.fuzzy:
            found.append(Problem("fuzzy", _show(key), "fuzzy entries are not used"))
        # one plural form (Chinese): msgstr[0] stands for the plural msgid too
        wanted = placeholders(ids[-1])
        names = {name for name, _ in wanted if name}
        for string in strings:
            if placeholders(string) != wanted:
                found.append(
                    Problem(
                        "placeholders",
                        _show(key),
                        f"msgid has {_listed(wanted)}, msgstr {_listed(placeholders(string))}",
                    )
                )
            elif not _formats(string, names):
                found.append(Problem("format", _show(key), "a lone %: write %%"))
    return found


def _listed(found: Counter[tuple[str | None, str]]) -> str:
    shown = sorted(f"%({n}){c}" if n else f"%{c}" for (n, c), k in found.items() for _ in range(k))
    return ", ".join(shown) or "none"


# -- filling in -------------------------------------------------------------------------------


def todo(locale: str) -> list[dict[str, Any]]:
    """The entries left to translate, as a list to fill in (``msgstr``) and give to ``fill``."""
    catalog = read(locale)
    out = []
    for message in _entries(catalog):
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        if all(strings) and not message.fuzzy:
            continue
        entry: dict[str, Any] = {"msgid": _key(message)[1]}
        if message.context:
            entry["context"] = message.context
        if isinstance(message.id, tuple | list):
            entry["msgid_plural"] = message.id[1]
        entry["where"] = sorted({f for f, _ in message.locations})
        entry["msgstr"] = ""
        out.append(entry)
    return out


def fill(locale: str, filled: list[dict[str, Any]]) -> int:
    """Write translations into the catalogue (``todo``'s list, ``msgstr`` filled in); the
    number written. Entries still empty are left as they were."""
    catalog = read(locale)
    written = 0
    for entry in filled:
        if not entry.get("msgstr"):
            continue
        message = catalog.get(entry["msgid"], context=entry.get("context"))
        if message is None:
            raise SystemExit(f"not in the catalogue (run update first): {entry['msgid']!r}")
        forms = catalog.num_plurals if isinstance(message.id, tuple | list) else 0
        message.string = tuple([entry["msgstr"]] * forms) if forms else entry["msgstr"]
        message.flags.discard("fuzzy")
        written += 1
    write(locale, catalog)
    return written


# -- the command ------------------------------------------------------------------------------


def _report(locale: str, found: list[Problem]) -> None:
    if not found:
        print(f"{locale}: complete")
        return
    print(f"{locale}: {len(found)} problem(s)")
    for problem in found:
        print(f"  {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.i18n", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["extract", "update", "check", "todo", "fill", "init"])
    parser.add_argument("file", nargs="?", help="extract: the .pot; fill: the JSON; init: LOCALE")
    parser.add_argument("--locale", help="one catalogue (zh_CN); default: all of them")
    args = parser.parse_args(argv)
    chosen = [args.locale] if args.locale else locales()

    if args.command == "extract":
        target = Path(args.file or ROOT / "var" / "i18n" / f"{DOMAIN}.pot")
        print(f"{write_template(target)} strings extracted to {target}")
        return 0
    if args.command == "init":
        if not args.file:
            parser.error("init needs a locale, e.g. zh_TW")
        path = init(args.file)
        print(f"{path.relative_to(ROOT)} made; add the language to LANGUAGES in")
        print("loanhub/dashboard/i18n.py, translate (todo / fill), then run check")
        return 0
    if args.command == "todo":
        if len(chosen) != 1:
            parser.error("todo lists one catalogue: --locale")
        json.dump(todo(chosen[0]), sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    if args.command == "fill":
        if len(chosen) != 1 or not args.file:
            parser.error("fill takes one catalogue (--locale) and the filled-in JSON")
        filled = json.loads(Path(args.file).read_text(encoding="utf-8"))
        print(f"{fill(chosen[0], filled)} translation(s) written")
        found = problems(chosen[0])
        _report(chosen[0], found)
        return 1 if found else 0

    template = extract()
    failed = False
    for locale in chosen:
        if args.command == "update":
            added, removed = update(locale, template)
            for msgid in added:
                print(f"  new: {msgid}")
            for msgid in removed:
                print(f"  gone: {msgid}")
        found = problems(locale, template)
        _report(locale, found)
        failed = failed or bool(found)
    if args.command == "update" and failed:
        print("translate them: python -m devtools.i18n todo --locale LOCALE > todo.json, fill")
        print("in the msgstr, python -m devtools.i18n fill todo.json --locale LOCALE")
        return 0  # an update with gaps is the normal case; check is the gate
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
