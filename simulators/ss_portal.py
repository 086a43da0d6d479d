"""The social-security portal (社保): a GBK, frameset, table-layout web application.

Login needs user name, password and the 6-digit TOTP of the bank's token. 参保缴费查询 searches
by ID number and name; results come 10 rows a page with 下一页 links; 导出 downloads the whole
history as a GBK CSV. Quirks (controls ``ss``): idle sessions expire (any page then shows the
login, which breaks out of the frameset), a 系统公告 modal blocks clicks until closed, pages
take 1-3 s, a 系统繁忙 page comes back with status 200, a layout variant renames labels
and reorders columns, and the login can demand a picture captcha (``captcha``) that no
automated client is expected to read.
"""

from __future__ import annotations

import math
from decimal import Decimal

from simulators import totp
from simulators.controls import Controls
from simulators.dataset import ContributionMonth, Dataset
from simulators.journal import Journal
from simulators.web import BadRequest, LegacyWebApp, Request, Response, Session, esc, redirect

PAGE_SIZE = 10
STATUS = {"已缴": "已缴", "欠缴": "欠缴", "补缴": "补缴"}
# label key -> (standard, variant)
LABELS = {
    "id": ("身份证号码", "公民身份号码"),
    "name": ("姓名", "参保人姓名"),
    "search": ("查 询", "检 索"),
    "export": ("导 出", "下 载"),
    "menu": ("参保缴费查询", "参保缴费查询"),
}
# column key -> (standard header, variant header)
COLUMNS = {
    "month": ("缴费年月", "费款所属期"),
    "employer": ("单位名称", "参保单位"),
    "uscc": ("统一社会信用代码", "单位社会信用代码"),
    "base": ("缴费基数", "缴费基数"),
    "personal": ("养老个人缴费", "个人缴纳"),
    "employer_amount": ("养老单位缴费", "单位缴纳"),
    "status": ("缴费状态", "缴费标志"),
}
STANDARD_ORDER = ("month", "employer", "uscc", "base", "personal", "employer_amount", "status")
VARIANT_ORDER = ("month", "status", "base", "personal", "employer_amount", "employer", "uscc")
NOTICE = (
    '<div style="position:fixed;left:0;top:0;width:100%;height:100%;z-index:999;'
    'background:rgba(0,0,0,0.35)"><div style="position:absolute;left:20%;top:18%;width:60%;'
    'background:#fff;border:2px solid #36c;padding:10px">'
    '<div style="background:#36c;color:#fff;padding:4px"><b>系统公告</b></div>'
    "<p>尊敬的用户：本系统将于本周六 22:00 至次日 06:00 进行升级维护，期间暂停服务。</p>"
    '<p align="center"><input type="button" value="关 闭" '
    "onclick=\"this.parentNode.parentNode.parentNode.style.display='none'\"></p></div></div>"
)

CAPTCHA = (
    '<tr><td>验证码：</td><td><input type="text" name="captcha" size="6" maxlength="4"> '
    '<img alt="验证码" width="60" height="20" src="data:image/svg+xml;utf8,'
    "<svg xmlns='http://www.w3.org/2000/svg' width='60' height='20'><text x='4' y='15' "
    "font-size='14' transform='skewX(-12)'>7K3Q</text></svg>\"></td></tr>"
)


def _cells(row: ContributionMonth) -> dict[str, str]:
    return {
        "month": row.month,
        "employer": row.employer_name,
        "uscc": row.employer_uscc,
        "base": f"{row.base:.2f}",
        "personal": f"{row.pension_personal:.2f}",
        "employer_amount": f"{row.pension_employer:.2f}",
        "status": STATUS[row.status],
    }


class SocialSecurityPortal(LegacyWebApp):
    system = "ss"
    prefix = "/ss"
    login_path = "login.do"
    cookie = "JSESSIONID"

    def __init__(
        self,
        dataset: Dataset,
        controls: Controls,
        journal: Journal,
        username: str,
        password: str,
        totp_secret: str,
    ) -> None:
        super().__init__(controls, journal, {username: password})
        self.data = dataset
        self.totp_secret = totp_secret

    @property
    def variant(self) -> int:
        return 1 if self.controls.get("ss", "layout", "variant", False) else 0

    @property
    def captcha_on(self) -> bool:
        return bool(self.controls.get("ss", "/login.do", "captcha", False))

    def label(self, key: str) -> str:
        return LABELS[key][self.variant]

    def handle(self, request: Request) -> Response:
        path = request.path
        if path in ("/", ""):
            return redirect(f"{self.prefix}/login.do")
        if path == "/login.do":
            return self.login(request)
        if path == "/logout.do":
            self.close_session(request)
            return redirect(f"{self.prefix}/login.do")
        session = self.session(request)
        if session is None:
            return redirect(f"{self.prefix}/login.do")
        if (interrupted := self.interrupt(request)) is not None:
            return interrupted
        routes = {
            "/main.do": self.main,
            "/menu.do": self.menu,
            "/welcome.do": self.welcome,
            "/query.do": self.query,
            "/export.do": self.export,
        }
        if path not in routes:
            raise BadRequest(f"页面不存在 {path}")
        return routes[path](request, session)

    # -- pages -------------------------------------------------------------------------------

    def login(self, request: Request, error: str = "") -> Response:
        if request.method == "POST":
            user = request.form.get("j_username", "")
            code_ok = totp.verify(self.totp_secret, request.form.get("otp", "")) and (
                not self.captcha_on  # nobody reads the picture: with a captcha, logins fail
            )
            error = self.check_login(user, request.form.get("j_password", ""), code_ok) or ""
            if not error:
                _, cookie = self.open_session(user)
                return Response(
                    "",
                    status="302 Found",
                    headers=[("Location", f"{self.prefix}/main.do"), *cookie],
                )
        message = (
            f'<tr><td colspan=2><font color="red">{esc(error)}</font></td></tr>' if error else ""
        )
        body = (
            "<script>if (window.top !== window.self) { window.top.location.href = 'login.do'; }"
            "</script>"
            '<table width="100%" height="80%"><tr><td align="center">'
            '<form method="post" action="login.do"><table border="0" cellpadding="4" '
            'style="border:1px solid #99c;background:#eef">'
            '<tr><td colspan=2 align=center bgcolor="#36c"><font color="#fff"><b>'
            "社会保险网上服务平台（单位版）</b></font></td></tr>"
            f"{message}"
            '<tr><td>用户名：</td><td><input type="text" name="j_username" size="20"></td></tr>'
            '<tr><td>密&nbsp;&nbsp;码：</td><td><input type="password" name="j_password" '
            'size="20"></td></tr>'
            '<tr><td>动态口令：</td><td><input type="text" name="otp" size="8" maxlength="6">'
            "</td></tr>"
            f"{CAPTCHA if self.captcha_on else ''}"
            '<tr><td colspan=2 align=center><input type="submit" value="登 录"></td></tr>'
            "</table></form></td></tr></table>"
        )
        return Response(self.page("社会保险网上服务平台 - 登录", body))

    def main(self, request: Request, session: Session) -> Response:
        return Response(
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Frameset//EN">\n<html><head>'
            '<meta http-equiv="Content-Type" content="text/html; charset=GBK">'
            "<title>社会保险网上服务平台</title></head>"
            '<frameset rows="40,*" border="0"><frame name="top" src="about:blank" scrolling="no">'
            '<frameset cols="180,*"><frame name="menu" src="menu.do">'
            '<frame name="content" src="welcome.do"></frameset>'
            "<noframes><body>您的浏览器不支持框架。</body></noframes></frameset></html>"
        )

    def menu(self, request: Request, session: Session) -> Response:
        body = (
            '<table width="100%" cellpadding="3"><tr><td bgcolor="#36c"><font color="#fff">'
            "<b>业务菜单</b></font></td></tr>"
            f'<tr><td><a href="query.do" target="content">{self.label("menu")}</a></td></tr>'
            '<tr><td><a href="welcome.do" target="content">个人权益记录</a></td></tr>'
            '<tr><td><a href="logout.do" target="_top">退出系统</a></td></tr></table>'
        )
        return Response(self.page("菜单", body))

    def _notice(self, request: Request) -> str:
        if self.controls.chance("ss", request.path, "notice_rate"):
            self.journal.record("ss", "notice", path=request.path)
            return NOTICE
        return ""

    def welcome(self, request: Request, session: Session) -> Response:
        body = (
            f"<p>欢迎您，{esc(session.user)}。</p><p>请选择左侧菜单办理业务。</p>"
            f"{self._notice(request)}"
        )
        return Response(self.page("欢迎", body))

    def _search_form(self, id_number: str = "", name: str = "", message: str = "") -> str:
        return (
            '<form method="post" action="query.do"><table border="0" cellpadding="3">'
            f'<tr><td>{self.label("id")}：</td><td><input type="text" name="aac002" '
            f'value="{esc(id_number)}" size="22"></td>'
            f'<td>{self.label("name")}：</td><td><input type="text" name="aac003" '
            f'value="{esc(name)}" size="10"></td>'
            f'<td><input type="submit" value="{self.label("search")}"></td></tr></table></form>'
            + (f'<p><font color="red">{esc(message)}</font></p>' if message else "")
        )

    def query(self, request: Request, session: Session) -> Response:
        if request.method == "POST":
            id_number = request.form.get("aac002", "").upper()
            name = request.form.get("aac003", "")
            if not id_number or not name:
                return Response(
                    self.page(
                        "参保缴费查询", self._search_form(id_number, name, "请输入身份证号码和姓名")
                    )
                )
            person = self.data.person_by_id.get(id_number)
            found = person is not None and person.name == name and bool(person.contributions)
            self.journal.record("ss", "lookup", id_number=id_number, user=session.user, found=found)
            if not found:
                return Response(
                    self.page(
                        "参保缴费查询",
                        self._search_form(id_number, name, "未查询到该人员的参保缴费信息"),
                    )
                )
            session.data["search"] = (id_number, name)
            page = 1
        elif "page" in request.query:
            if "search" not in session.data:
                raise BadRequest("查询条件已失效，请重新查询")
            try:
                page = int(request.query["page"])
            except ValueError as exc:
                raise BadRequest("页码不合法") from exc
        else:
            return Response(self.page("参保缴费查询", self._search_form()))
        return Response(self.page("参保缴费查询结果", self._results(session, page, request)))

    def _history(self, session: Session) -> list[ContributionMonth]:
        id_number, _ = session.data["search"]
        return sorted(
            self.data.person_by_id[id_number].contributions, key=lambda r: r.month, reverse=True
        )

    def _results(self, session: Session, page: int, request: Request) -> str:
        rows = self._history(session)
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        if not 1 <= page <= pages:
            raise BadRequest("页码超出范围")
        order = VARIANT_ORDER if self.variant else STANDARD_ORDER
        head = "".join(f"<td><b>{COLUMNS[c][self.variant]}</b></td>" for c in order)
        body_rows = []
        for n, row in enumerate(
            rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], start=(page - 1) * PAGE_SIZE + 1
        ):
            cells = _cells(row)
            body_rows.append(
                f"<tr><td>{n}</td>" + "".join(f"<td>{esc(cells[c])}</td>" for c in order) + "</tr>"
            )
        prev_link = f'<a href="query.do?page={page - 1}">上一页</a>' if page > 1 else "上一页"
        next_link = f'<a href="query.do?page={page + 1}">下一页</a>' if page < pages else "下一页"
        id_number, name = session.data["search"]
        total = sum((r.base for r in rows), Decimal("0"))
        return (
            self._search_form(id_number, name)
            + f"<p>{self.label('name')}：{esc(name)}&nbsp;&nbsp;{self.label('id')}："
            f"{esc(id_number)}&nbsp;&nbsp;缴费基数合计：{total:.2f}</p>"
            '<table border="1" cellspacing="0" cellpadding="3" width="100%" '
            'style="border-collapse:collapse">'
            f'<tr bgcolor="#dde4f0"><td><b>序号</b></td>{head}</tr>{"".join(body_rows)}</table>'
            f'<table width="100%"><tr><td>共 {len(rows)} 条记录 第 {page}/{pages} 页 '
            f"{prev_link} {next_link}</td><td align=right>"
            f'<input type="button" value="{self.label("export")}" '
            "onclick=\"window.location.href='export.do'\"></td></tr></table>"
            + self._notice(request)
        )

    def export(self, request: Request, session: Session) -> Response:
        if "search" not in session.data:
            raise BadRequest("请先查询后再导出")
        order = VARIANT_ORDER if self.variant else STANDARD_ORDER
        lines = [",".join(COLUMNS[c][self.variant] for c in order)]
        for row in self._history(session):
            cells = _cells(row)
            lines.append(",".join(cells[c] for c in order))
        id_number, _ = session.data["search"]
        self.journal.record(
            "ss", "export", id_number=id_number, user=session.user, rows=len(lines) - 1
        )
        body = ("\r\n".join(lines) + "\r\n").encode("gbk", errors="replace")
        return Response(
            body,
            content_type="text/csv",
            headers=[("Content-Disposition", f'attachment; filename="cbjf_{id_number}.csv"')],
        )
