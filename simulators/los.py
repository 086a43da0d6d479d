"""The loan origination system (LOS, 信贷系统): approvals by screen.

Login; search by application number; the application page with its approval form (approve,
reject, return for documents; amount, term, rate, conditions, comment); submit asks a
JavaScript ``confirm()``; the confirmation page shows the approval reference (审批流水号); a
status page. Maker-checker: an approval above the user's limit waits for a second user (待复核).
Like the real one it does not refuse a second decision on the same application: it records it.
A return for more documents (已退回补件) sends the application back to the branch; when the
documents come, the next decision on it is a new approval round (its form is open again, titled
补件后审批意见; the journal counts the ``round``). A decision after a final one (已批准 / 已拒绝)
is recorded all the same, as a second decision of that round: the quirk the hub must avoid.
The gateway in front sometimes answers 504 after the decision was recorded (controls ``los``).
``hold_seconds`` on ``/decide`` keeps the answer back that long after the decision is recorded
(journal ``decision_held``): the window in which a client killed after its submit never hears
of a decision the LOS holds, and a client with a shorter timeout gives up on it.
A layout variant (``variant``, the release after an upgrade) asks for the approved amount in
万元 instead of 元: a client that fills yuan into it approves ten thousand times the amount.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from simulators.controls import Controls
from simulators.dataset import Dataset, EnterpriseApplication, LosApplication
from simulators.journal import Journal
from simulators.web import BadRequest, LegacyWebApp, Request, Response, Session, esc, redirect

BEIJING = timezone(timedelta(hours=8))
DECISIONS = {"APPROVE": "批准", "REJECT": "拒绝", "RETURN": "退回补件"}
STATUS_TEXT = {
    "PENDING": "待审批",
    "APPROVED": "已批准",
    "REJECTED": "已拒绝",
    "RETURNED": "已退回补件",
    "PENDING_REVIEW": "待复核",
}
TERMS = (6, 12, 24, 36, 60, 120, 240, 360)
GATEWAY_504 = (
    "<html><head><title>504 Gateway Time-out</title></head><body>"
    "<center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class Decision:
    reference: str
    decision: str
    amount: Decimal | None
    term: int | None
    rate: Decimal | None
    conditions: str
    comment: str
    user: str
    at: str
    status_after: str
    round: int = 1


def round_after(decisions: list[Decision]) -> int:
    """The round the next decision on a case belongs to: one more after each return."""
    return 1 + sum(d.status_after == "RETURNED" for d in decisions)


@dataclass
class Case:
    application: LosApplication
    status: str = "PENDING"
    decisions: list[Decision] = field(default_factory=list)


class LoanOrigination(LegacyWebApp):
    system = "los"
    prefix = "/los"
    cookie = "LOSSESSIONID"
    encoding = "gbk"

    def __init__(
        self, dataset: Dataset, controls: Controls, journal: Journal, users: list[dict[str, str]]
    ) -> None:
        super().__init__(controls, journal, {u["username"]: u["password"] for u in users})
        self.limits = {u["username"]: Decimal(u["limit"]) for u in users}
        self.cases = {a.application_no: Case(a) for a in dataset.applications}
        self._serial = itertools.count(1)
        self._decide_lock = threading.Lock()
        self.business_date = dataset.business_date

    @property
    def variant(self) -> bool:
        return bool(self.controls.get("los", "/app", "variant", False))

    def handle(self, request: Request) -> Response:
        path = request.path
        if path in ("/", ""):
            return redirect(f"{self.prefix}/login")
        if path == "/login":
            return self.login(request)
        if path == "/logout":
            self.close_session(request)
            return redirect(f"{self.prefix}/login")
        session = self.session(request)
        if session is None:
            return redirect(f"{self.prefix}/login")
        if (interrupted := self.interrupt(request)) is not None:
            return interrupted
        routes = {
            "/search": self.search,
            "/app": self.application,
            "/decide": self.decide,
            "/status": self.status,
        }
        if path not in routes:
            raise BadRequest(f"页面不存在 {path}")
        return routes[path](request, session)

    def _nav(self, session: Session) -> str:
        return (
            f'<div style="background:#933;color:#fff;padding:4px">信贷管理系统 | 当前用户：'
            f'{esc(session.user)} | <a style="color:#fff" href="search">申请查询</a> | '
            '<a style="color:#fff" href="logout">退出</a></div>'
        )

    def login(self, request: Request) -> Response:
        error = ""
        if request.method == "POST":
            user = request.form.get("username", "")
            error = self.check_login(user, request.form.get("password", "")) or ""
            if not error:
                _, cookie = self.open_session(user)
                return Response(
                    "", status="302 Found", headers=[("Location", f"{self.prefix}/search"), *cookie]
                )
        body = (
            '<form method="post" action="login"><table align="center" cellpadding="5" '
            'style="margin-top:80px;border:1px solid #933">'
            '<tr><td colspan="2" bgcolor="#933"><font color="#fff"><b>信贷管理系统 登录</b></font>'
            "</td></tr>"
            + (
                f'<tr><td colspan="2"><font color="red">{esc(error)}</font></td></tr>'
                if error
                else ""
            )
            + '<tr><td><label for="username">用户名</label></td><td><input id="username" '
            'name="username"></td></tr><tr><td><label for="password">密码</label></td><td>'
            '<input id="password" name="password" type="password"></td></tr>'
            '<tr><td colspan="2" align="center"><input type="submit" value="登录"></td></tr>'
            "</table></form>"
        )
        return Response(self.page("信贷管理系统", body))

    def search(self, request: Request, session: Session) -> Response:
        message = ""
        if request.method == "POST" or "no" in request.query:
            number = (request.form.get("no") or request.query.get("no", "")).strip().upper()
            self.journal.record(
                "los",
                "lookup",
                application_no=number,
                user=session.user,
                found=number in self.cases,
            )
            if number in self.cases:
                return redirect(f"{self.prefix}/app?no={number}")
            message = f"未找到申请编号为 {number} 的申请"
        body = (
            self._nav(session)
            + '<form method="post" action="search"><p><label for="no">申请编号</label> '
            '<input id="no" name="no" size="24"> <input type="submit" value="查询"></p></form>'
            + (f'<p><font color="red">{esc(message)}</font></p>' if message else "")
        )
        return Response(self.page("申请查询", body))

    def _case(self, request: Request) -> Case:
        number = (request.query.get("no") or request.form.get("no", "")).upper()
        if number not in self.cases:
            raise BadRequest(f"申请编号 {number} 不存在")
        return self.cases[number]

    def _details(self, case: Case) -> str:
        a = case.application
        rows = (
            ("申请编号", a.application_no),
            ("申请人", a.applicant_name),
            ("证件号码", a.id_number),
            ("贷款产品", a.product),
            ("申请金额", f"{a.requested_amount:,.2f}"),
            ("申请期限", f"{a.term_months} 个月"),
            ("申请日期", f"{a.submitted_on:%Y-%m-%d}"),
            ("经办机构", a.branch),
            ("当前状态", STATUS_TEXT[case.status]),
        )
        if isinstance(a, EnterpriseApplication):  # a company: its kind, and who guarantees it
            surety = a.guarantor_name or "无"
            rows = (*rows[:3], ("申请人类型", "企业"), ("担保人", surety), *rows[3:])
        return (
            '<table border="1" cellspacing="0" cellpadding="4">'
            + "".join(f"<tr><td bgcolor=#f3e6e6>{k}</td><td>{esc(v)}</td></tr>" for k, v in rows)
            + "</table>"
        )

    def application(self, request: Request, session: Session) -> Response:
        case = self._case(request)
        self.journal.record(
            "los", "view", application_no=case.application.application_no, user=session.user
        )
        token = secrets.token_hex(8)
        session.data.setdefault("tokens", set()).add(token)
        body = (
            self._nav(session)
            + "<h3>申请信息</h3>"
            + self._details(case)
            + f'<p><a href="status?no={case.application.application_no}">审批状态</a></p>'
            + self._form(case, token)
        )
        return Response(self.page(f"申请 {case.application.application_no}", body))

    def _form(self, case: Case, token: str) -> str:
        """The approval form. It is there whatever the status: this LOS records every decision
        it is sent, so a blind resubmit after a 504 becomes a second decision."""
        a = case.application
        unit, scale = ("万元", 10000) if self.variant else ("元", 1)
        title = {
            "PENDING_REVIEW": "复核意见",
            "PENDING": "审批意见",
            "RETURNED": "补件后审批意见",  # open again: the documents came, a new round
        }.get(case.status, "补充审批意见")
        radios = "".join(
            f'<input type="radio" name="decision" id="d_{k}" value="{k}">'
            f'<label for="d_{k}">{v}</label> '
            for k, v in DECISIONS.items()
        )
        terms = "".join(
            f'<option value="{t}"{" selected" if t == a.term_months else ""}>{t}</option>'
            for t in TERMS
        )
        return (
            f'<h3>{title}</h3><form method="post" action="decide">'
            f'<input type="hidden" name="no" value="{esc(a.application_no)}">'
            f'<input type="hidden" name="org.apache.struts.taglib.html.TOKEN" value="{token}">'
            f'<table cellpadding="4"><tr><td>审批结论</td><td>{radios}</td></tr>'
            f'<tr><td><label for="amount">批准金额（{unit}）</label></td><td>'
            f'<input id="amount" name="amount" value="{a.requested_amount / scale:.2f}"></td></tr>'
            '<tr><td><label for="term">期限（月）</label></td><td>'
            f'<select id="term" name="term">{terms}</select></td></tr>'
            '<tr><td><label for="rate">年利率（%）</label></td><td>'
            '<input id="rate" name="rate" value="4.35"></td></tr>'
            '<tr><td><label for="conditions">放款条件</label></td><td>'
            '<textarea id="conditions" name="conditions" rows="2" cols="50"></textarea></td></tr>'
            '<tr><td><label for="comment">审批意见</label></td><td>'
            '<textarea id="comment" name="comment" rows="3" cols="50"></textarea></td></tr>'
            '<tr><td colspan="2"><input type="submit" value="提交" '
            "onclick=\"return confirm('确认提交审批意见吗？提交后不可撤回。');\"></td></tr>"
            "</table></form>"
        )

    def _parse_decision(self, request: Request, session: Session) -> dict[str, object]:
        f = request.form
        token = f.get("org.apache.struts.taglib.html.TOKEN", "")
        if token not in session.data.get("tokens", set()):
            raise BadRequest("表单已过期或重复提交，请重新打开申请页面")
        decision = f.get("decision", "")
        if decision not in DECISIONS:
            raise BadRequest("请选择审批结论")
        try:
            scale = 10000 if self.variant else 1
            amount = (
                Decimal(f.get("amount", "").replace(",", "")) * scale
                if decision == "APPROVE"
                else None
            )
            term = int(f.get("term", "")) if decision == "APPROVE" else None
            rate = Decimal(f.get("rate", "")) if decision == "APPROVE" else None
            if any(v is not None and not v.is_finite() for v in (amount, rate)):
                raise InvalidOperation("not a finite number")  # NaN, sNaN, Infinity
        except (InvalidOperation, ValueError) as exc:
            raise BadRequest("金额、期限或利率格式不正确") from exc
        if decision == "APPROVE" and not (
            amount and 0 < amount < 10**13 and term in TERMS and rate is not None and 0 < rate < 36
        ):
            raise BadRequest("批准金额、期限或利率超出允许范围")
        if len(f.get("conditions", "")) > 500 or len(f.get("comment", "")) > 500:
            raise BadRequest("意见内容过长")
        return {
            "decision": decision,
            "amount": amount,
            "term": term,
            "rate": rate,
            "conditions": f.get("conditions", ""),
            "comment": f.get("comment", ""),
        }

    def decide(self, request: Request, session: Session) -> Response:
        if request.method != "POST":
            raise BadRequest("非法请求")
        case = self._case(request)
        fields = self._parse_decision(request, session)
        with self._decide_lock:
            if case.status == "PENDING_REVIEW" and case.decisions[-1].user == session.user:
                raise BadRequest("不能复核本人提交的审批")
            status = {"APPROVE": "APPROVED", "REJECT": "REJECTED", "RETURN": "RETURNED"}[
                str(fields["decision"])
            ]
            over_limit = fields["decision"] == "APPROVE" and fields["amount"] > self.limits.get(
                session.user, Decimal(0)
            )  # type: ignore[operator]
            if over_limit:
                status = "PENDING_REVIEW"
            now = datetime.now(UTC).astimezone(BEIJING)
            reference = f"SP{self.business_date:%Y%m%d}{next(self._serial):06d}"
            record = Decision(
                reference,
                str(fields["decision"]),
                fields["amount"],  # type: ignore[arg-type]
                fields["term"],
                fields["rate"],
                str(fields["conditions"]),  # type: ignore[arg-type]
                str(fields["comment"]),
                session.user,
                f"{now:%Y-%m-%d %H:%M:%S}",
                status,
                round_after(case.decisions),
            )
            case.decisions.append(record)
            case.status = status
        self.journal.record(
            "los",
            "decision",
            application_no=case.application.application_no,
            user=session.user,
            decision=record.decision,
            amount=None if record.amount is None else str(record.amount),
            reference=reference,
            status=status,
            pending_review=over_limit,
            round=record.round,
        )
        hold = float(self.controls.get("los", "/decide", "hold_seconds", 0) or 0)
        if hold > 0:  # recorded; the answer is late (a slow backend, a stuck gateway)
            self.journal.record(
                "los",
                "decision_held",
                application_no=case.application.application_no,
                reference=reference,
                seconds=hold,
            )
            time.sleep(hold)
        if self.controls.chance("los", "/decide", "gateway_504_rate"):
            self.journal.record(
                "los",
                "gateway_504",
                application_no=case.application.application_no,
                reference=reference,
            )
            return Response(GATEWAY_504, status="504 Gateway Time-out")
        note = (
            "<p><font color=red>批准金额超出您的审批权限，已提交复核，待第二审批人复核。</font></p>"
            if over_limit
            else ""
        )
        body = (
            self._nav(session) + "<h3>提交成功</h3>"
            f"<table border=1 cellspacing=0 cellpadding=4><tr><td>申请编号</td>"
            f"<td>{esc(case.application.application_no)}</td></tr>"
            f"<tr><td>审批流水号</td><td><b>{reference}</b></td></tr>"
            f"<tr><td>当前状态</td><td>{STATUS_TEXT[status]}</td></tr></table>{note}"
        )
        return Response(self.page("审批结果", body))

    def status(self, request: Request, session: Session) -> Response:
        case = self._case(request)
        self.journal.record(
            "los", "status", application_no=case.application.application_no, user=session.user
        )
        history = (
            "".join(
                f"<tr><td>{d.reference}</td><td>{DECISIONS[d.decision]}</td>"
                f"<td>{'' if d.amount is None else f'{d.amount:,.2f}'}</td>"
                f"<td>{esc(d.user)}</td><td>{d.at}</td><td>{STATUS_TEXT[d.status_after]}</td></tr>"
                for d in case.decisions
            )
            or '<tr><td colspan="6">暂无审批记录</td></tr>'
        )
        body = (
            self._nav(session)
            + "<h3>审批状态</h3>"
            + self._details(case)
            + "<h3>审批记录</h3><table border=1 cellspacing=0 cellpadding=4><tr>"
            "<td>审批流水号</td><td>审批结论</td><td>批准金额</td><td>审批人</td>"
            f"<td>审批时间</td><td>审批后状态</td></tr>{history}</table>"
        )
        return Response(self.page(f"审批状态 {case.application.application_no}", body))
