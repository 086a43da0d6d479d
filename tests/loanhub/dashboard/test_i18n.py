"""The dashboard's catalogues: every string the code marks has its Chinese, with the same
placeholders; what the app loads is what the ``.po`` says; every code a page shows has a
label; and two requests in two languages, rendering at once on one shared environment, each
read their own."""

from __future__ import annotations

import copy
import threading
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog

from devtools import i18n as tool
from kernel.calls import CallOutcome
from loanhub.dashboard import charts, figures, i18n
from loanhub.dashboard.auth import Role
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.rendering import environment
from schemas.hub import FileState, WorkItemState
from schemas.lending import DecisionOutcome, WarningSeverity

ID = "110101199003077777"  # a resident ID's shape: masked wherever it is printed


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return tool.extract()


def test_every_marked_string_has_its_chinese_with_the_same_placeholders(extracted: Catalog):
    found = tool.problems("zh_CN", extracted)
    assert not found, "\n".join(map(str, found))  # python -m devtools.i18n update / todo / fill


def test_the_check_sees_a_new_string_an_empty_one_and_a_wrong_placeholder(extracted: Catalog):
    catalog = tool.read("zh_CN")
    catalog.get("Work item %(id)s").string = "工作项 %(item)s"
    catalog.get("last %(hours)s h").string = "最近 %(hours)s 小时（100%）"
    catalog.get("Log out").string = ""
    catalog.get("NEEDS_HUMAN", context="code").flags.add("fuzzy")
    template = copy.deepcopy(extracted)
    template.add("A string a helper added", locations=[("loanhub/dashboard/new.py", 1)])
    found = {(p.kind, p.entry) for p in tool.problems("zh_CN", template, catalog)}
    assert found == {
        ("placeholders", "Work item %(id)s"),
        ("format", "last %(hours)s h"),
        ("untranslated", "Log out"),
        ("fuzzy", "[code] NEEDS_HUMAN"),
        ("missing", "A string a helper added"),
    }


def test_the_extraction_finds_templates_python_charts_and_refusals(extracted: Catalog):
    ids = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in extracted if m.id}
    assert (None, "Acknowledge") in ids  # {{ _() }} in a template
    assert (None, "decided in the last %(num)s day") in ids  # ngettext in a template
    assert (None, "Too many failed logins: try again later.") in ids  # N_ in Python
    assert (None, "Open warnings by rule") in ids  # a chart's title
    assert (None, "operators only") in ids  # an HTTPException's detail
    assert ("code", "NEEDS_HUMAN") in ids  # a code's label


def test_what_the_app_loads_is_what_the_po_says():
    loaded = i18n.catalogue("zh-CN")
    entries = [m for m in tool.read("zh_CN") if m.id]
    assert len(entries) > 150
    for m in entries:
        if isinstance(m.id, tuple):
            assert loaded.ngettext(m.id[0], m.id[1], 1) == m.string[0]
            assert loaded.ngettext(m.id[0], m.id[1], 5) == m.string[0]
        elif m.context:
            assert loaded.pgettext(m.context, m.id) == m.string
        else:
            assert loaded.gettext(m.id) == m.string


@pytest.mark.parametrize(
    "codes",
    [
        [s.value for s in WorkItemState],
        [o.value for o in CallOutcome],
        [s.value for s in FileState],
        [s.value for s in WarningSeverity],
        [o.value for o in DecisionOutcome],
        [r.value for r in Role],
        list(figures.RUN_STATES),
        [name for name, _, _ in figures.STEPS],
    ],
)
def test_every_code_a_page_shows_has_a_chinese_label(codes: list[str]):
    assert set(codes) <= set(i18n.CODES)
    with i18n.speaking("zh-CN"):
        unlabelled = [c for c in codes if i18n.code(c) == c]
    assert unlabelled == []


def test_a_numbered_code_takes_its_familys_label():
    with i18n.speaking("zh-CN"):
        assert i18n.code("dpd_crossed_30") == "逾期满 30 天"
        assert i18n.code("dpd_crossed_") == "dpd_crossed_"
        assert i18n.code("no_family_7") == "no_family_7"
    assert i18n.code("dpd_crossed_30") == "dpd_crossed_30"  # English: the code


def test_outside_a_request_text_is_english_and_a_marked_string_is_translated_when_printed():
    template = environment(ZoneInfo("Asia/Shanghai")).from_string(
        '{{ problem }}|{{ _("Log out") }}|{{ "NEEDS_HUMAN" | code }}'
    )
    problem = N_("Airflow's metadata DB did not answer: %(error)s", error=f"id {ID}")
    assert str(problem) == f"Airflow's metadata DB did not answer: id {ID}"  # English as a str
    english = template.render(problem=problem)
    assert english.startswith("Airflow&#39;s metadata DB did not answer: id 1*")
    assert english.endswith("|Log out|NEEDS_HUMAN")
    with i18n.speaking("zh-CN"):
        chinese = template.render(problem=problem)
    assert chinese.startswith("Airflow 元数据库无响应：id 1*")
    assert chinese.endswith("|退出登录|待人工处理")
    assert ID not in english + chinese  # masked after translation, in both


def test_a_parameter_is_escaped_once():
    template = environment(ZoneInfo("UTC")).from_string('{{ _("kept at %(path)s", path=p) }}')
    assert template.render(p="<a&b>") == "kept at &lt;a&amp;b&gt;"


def test_charts_speak_the_language_of_the_request():
    rows = [("dag", {"failed": 1, "success": 2})]
    with i18n.speaking("zh-CN"):
        svg = charts.stacked(N_("Runs today by DAG and state"), rows, figures.RUN_STATES)
        empty = charts.hbar("Open warnings by rule", [])  # a plain title is found too
    assert 'aria-label="今日运行（按 DAG 和状态）"' in svg
    assert ">失败</text>" in svg
    assert "dag 成功: 2" in svg
    assert "暂无数据" in empty
    assert "未处理预警（按规则）" in empty
    english = charts.stacked(N_("Runs today by DAG and state"), rows, figures.RUN_STATES)
    assert ">failed</text>" in english


def test_two_requests_in_two_languages_render_at_once_on_one_environment():
    shared = environment(ZoneInfo("UTC")).from_string(
        '{% for _i in range(200) %}{{ _("Log out") }}{% endfor %}'
    )
    both = threading.Barrier(2)
    seen: dict[str, set[str]] = {}

    def serve(tag: str) -> None:
        with i18n.speaking(tag):
            both.wait()
            pages = {shared.render() for _ in range(50)}
        seen[tag] = pages

    threads = [threading.Thread(target=serve, args=(t,)) for t in ("zh-CN", "en")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen == {"zh-CN": {"退出登录" * 200}, "en": {"Log out" * 200}}
