"""The case file drawn: one template (``templates/body.html``) for the dashboard's page and for
a self-contained HTML file, the CLI's text, and a JSON image; masked, all of them.

Masking sits in the Jinja environment's ``finalize``, as on the dashboard's pages, so no line
of the template can print an ID, card or mobile in clear; the parties' names are made known to
the masker before anything is drawn. The standalone file inlines its styles and loads nothing
(an archived case file must read the same offline, years later).

Its words come from the hub's catalogues (``loanhub.platform.languages``): the page in the
language of the request being served, the standalone file in the one it is asked for.
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import Engine

from loanhub.flows.casefile.model import BANK_ZONE, CaseFile, build
from loanhub.platform.canonical import jsonable
from loanhub.platform.languages import (
    current,
    gettext,
    ngettext,
    npgettext,
    pgettext,
    speaking,
)
from loanhub.platform.masking import (
    known_names,
    mask_card,
    mask_name,
    mask_text,
)


class CaseBody(str):
    """A drawn case file body: markup its template escaped and masked, safe to print as is
    (``__html__``) inside a page; the page's own finalize masks it once more."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


ACCOUNT = re.compile(r"(?<![\dA-Za-z])\d{14,34}(?![\dA-Za-z])")
"""An account number written out: masked as a card is on a receipt (issuer prefix and last 4),
whether or not its check digit makes it a card; a core customer number (12 digits) stays."""


def mask_accounts(text: str) -> str:
    return ACCOUNT.sub(lambda m: mask_card(m.group(0)), text)


def _rate(value: Decimal | None) -> str:
    """4.850000 -> 4.85: a rate as people write it."""
    return "—" if value is None else f"{Decimal(value).normalize():f}"


def change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """An audit event's change, for people: of an image before and after, only what changed
    (``state: IN_PROGRESS → DONE``); of a record alone, its fields."""

    def shown(value: Any) -> str:
        return json.dumps(jsonable(value), ensure_ascii=False)

    if before and after:
        keys = [k for k in sorted({*before, *after}) if before.get(k) != after.get(k)]
        return "; ".join(f"{k}: {shown(before.get(k))} → {shown(after.get(k))}" for k in keys)
    image = after or before or {}
    return "; ".join(f"{k}: {shown(v)}" for k, v in sorted(image.items()) if v is not None)


def _masked(value: Any) -> Any:
    """Jinja's finalize: every value printed is masked (markup too); nothing prints "None"."""
    if value is None:
        return "—"
    if isinstance(value, Markup):  # a translated string, its values escaped by the template
        return Markup(_mask(str(value)))  # noqa: S704 - escaped markup, masked in place
    return _mask(value if isinstance(value, str) else str(value))


def _mask(text: str) -> str:
    """The hub's masking, and account numbers as on a receipt: what every printer applies."""
    return mask_accounts(mask_text(text))


def _mask_all(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return value


@cache
def environment(zone: str = str(BANK_ZONE)) -> Environment:
    """The case file's templates, times shown in ``zone``."""
    where = ZoneInfo(zone)
    env = Environment(
        loader=PackageLoader("loanhub.flows.casefile", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_masked,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
    )
    env.globals["change"] = change

    def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "—" if value is None else value.astimezone(where).strftime(fmt)

    env.filters.update(
        when=when,
        when_s=lambda v: when(v, "%Y-%m-%d %H:%M:%S"),
        day=lambda v: "—" if v is None else v.isoformat(),
        money=lambda v: "—" if v is None else f"{Decimal(v):,.2f}",
        ms=lambda v: "—" if v is None else (f"{v:.0f} ms" if v < 1000 else f"{v / 1000:.2f} s"),
        short=lambda v: "—" if not v else (v if len(v) <= 14 else f"{v[:12]}…"),
        name=mask_name,
        rate=_rate,
        account=lambda v: "—" if v is None else mask_accounts(str(v)),
    )
    return env


def render_body(
    case: CaseFile,
    *,
    operator: bool = False,
    link: str | None = None,
    zone: str = str(BANK_ZONE),
    lang: str | None = None,
    nonce: str = "",
) -> CaseBody:
    """The case file's body (a ``<div>`` with its own styles): what the dashboard's page puts
    inside its layout. ``link``: the dashboard's mount point, for evidence links; ``operator``:
    whether the evidence section shows its references; ``lang``: its language (unset: the one
    being spoken, the request's on the dashboard); ``nonce``: the page's CSP nonce, which its
    ``<style>`` carries (the dashboard allows no inline style without it)."""
    known_names.add(*case.names())
    with speaking(lang) if lang else nullcontext():
        html = (
            environment(zone)
            .get_template("body.html")
            .render(case=case, operator=operator, link=link, zone=zone, lang=current(), nonce=nonce)
        )
    return CaseBody(html)


def render_standalone(engine: Engine, application_no: str, *, lang: str = "en") -> bytes:
    """The case file as one self-contained HTML file (UTF-8): styles inline, no script, no
    link out; what the archive keeps when an application closes. ``CaseNotFound`` for an
    application the store does not hold."""
    case = build(engine, application_no)
    known_names.add(*case.names())
    with speaking(lang):
        html = (
            environment(str(BANK_ZONE))
            .get_template("standalone.html")
            .render(case=case, operator=True, link=None, zone=str(BANK_ZONE), lang=current())
        )
    return html.encode("utf-8")


def as_json(case: CaseFile) -> dict[str, Any]:
    """The case file as plain JSON types, every string masked (the CLI's ``--json``)."""
    known_names.add(*case.names())
    image = jsonable(case)
    for party in image["parties"]:
        party["name"] = mask_name(party["name"])
    return _mask_all(image)


def render_text(case: CaseFile, *, zone: ZoneInfo = BANK_ZONE) -> str:
    """The case file for a terminal: every section in a few lines, masked; times in ``zone``."""
    known_names.add(*case.names())

    def _v(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, datetime):
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return f"{value:,.2f}"
        return str(value)

    out: list[str] = []
    add = out.append
    add(f"Case file {case.application_no}  status {case.status}  round {case.round}")
    add(
        f"  {case.product}, {_v(case.requested_amount)} CNY for {case.term_months} months, "
        f"submitted {_v(case.submitted_at)}"
    )
    for p in case.parties:
        add(f"  {p.role}: {p.kind} {p.id_number} {mask_name(p.name)} mobile {_v(p.mobile)}")
    add(f"Consents ({len(case.consents)})")
    for c in case.consents:
        state = "valid" if c.valid_now else "lapsed"
        add(f"  {c.role} {c.scope} {c.reason} {_v(c.granted_at)} .. {_v(c.expires_at)} {state}")
    add(f"Calls ({len(case.calls)})")
    for t in case.call_totals:
        add(
            f"  {t.system}: {t.calls} calls, {t.successful} successful, {t.retries} retries, "
            f"{t.total_ms} ms in all, slowest {t.slowest_ms} ms"
        )
    add(f"Facts ({len(case.facts)})")
    for f in case.facts:
        add(
            f"  {f.trace.source_system} {f.kind} {f.key} ({f.role}): {f.summary}; "
            f"mapping {f.trace.mapping_version[:12]} payload {f.trace.raw_payload_hash[:12]}"
        )
    evaluations = [(d.evaluation, d) for d in case.decisions]
    if case.pending is not None:
        evaluations.append((case.pending, None))
    for ev, _decision in evaluations:
        x = ev.explanation
        add(f"Rule evaluation, round {ev.round} ({ev.basis})")
        for note in ev.notes:
            add(f"  note: {note}")
        if x is None:
            continue
        add(f"  rules {x.version}, section {x.section}")
        for line in x.lines:
            add(f"  {line.field} = {_v(line.value)} [{line.band}] -> {line.points} of {line.best}")
        add(f"  total {x.total}, score {x.score}, stored {_v(ev.stored_score)}")
        for c in x.hard_rejects:
            verdict = "FIRED" if c.fired else ("passed" if c.checked else "not checked")
            add(f"  reject {c.id}: {_v(c.value)} {c.op} {c.threshold}? {verdict}")
        add(
            f"  tier {x.tier}, approvers {', '.join(x.approvers)}, rate {_rate(x.annual_rate)} %, "
            f"verdict {x.outcome}: {'; '.join(x.reasons)}"
        )
    for d in case.decisions:
        add(
            f"Decision round {d.round}: {d.outcome} by {d.decided_by} at {_v(d.decided_at)}, "
            f"amount {_v(d.approved_amount)}, score {_v(d.score)}, rules {d.rule_set_version}"
        )
        add(f"  reasons: {d.reasons or '-'}")
        if d.referral is not None:
            r = d.referral
            asked = ", ".join(_v(at) for at in r.referred_at) or "not recorded"
            add(
                f"  referral: referred {asked}, tier {_v(r.tier)}, approvers "
                f"{', '.join(r.approvers) or '-'}; answered by {_v(r.answered_by)} at "
                f"{_v(r.answered_at)}"
            )
        add(f"  LOS {_v(d.los_reference)} now {_v(d.los_status)}")
        for s in d.los_history:
            add(f"    {_v(s.at)} {_v(s.status)} {_v(s.reference)} by {s.by} ({s.how})")
    for loan in case.loans:
        add(
            f"Loan {loan.loan_account}: {_v(loan.principal)} at {_rate(loan.annual_rate)} % for "
            f"{loan.term_months} months from {_v(loan.start_date)}, {loan.status}"
        )
        for t in loan.tranches:
            add(
                f"  tranche {t.tranche} {_v(t.amount)} to {t.creditor_account} {t.end_to_end_id}"
                f" {t.status} {t.status_reason or ''}".rstrip()
            )
            for pf in t.files:
                add(f"    pain.001 {pf.msg_id} {pf.state} pain.002 {_v(pf.gateway_status)}")
        add(
            f"  installments {len(loan.installments)}, due so far {_v(loan.due_so_far)}, "
            f"repaid {_v(loan.repaid)}, days past due {loan.dpd_now}, class {loan.class_now}"
        )
        for h in loan.history:
            add(f"    {_v(h.on)} dpd {h.dpd} {h.risk_class} ({h.why})")
    add(f"Warnings ({len(case.warnings)})")
    for w in case.warnings:
        ack = f"acknowledged {_v(w.acknowledged_at)}" if w.acknowledged_at else "open"
        add(f"  {w.severity} {w.rule} {w.risk_class or '-'}: {w.message} ({ack})")
    add(f"Work items ({len(case.work_items)})")
    for i in case.work_items:
        add(f"  {i.kind} {i.business_key} {i.state} attempts {i.attempts}")
    add(f"Audit events ({len(case.audit)})")
    for a in case.audit:
        add(f"  #{a.seq} {_v(a.occurred_at)} {a.actor} {a.action} {a.subject}")
    for note in case.notes:
        add(f"Note: {note}")
    return "\n".join(_mask(line) for line in out)
