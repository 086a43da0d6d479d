"""Facts into the store on both databases: stored once by business key, children linked,
and a state that changed at the source (a month paid late after all) updated, not dropped."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from loanhub.platform.facts import store_mapped
from mappings.engine import Mapping
from schemas.tables import social_security_month

ID = "11010519491231002X"
HEADERS = ("缴费年月", "单位名称", "统一社会信用代码", "缴费基数", "养老个人缴费", "养老单位缴费")


def rows(status: str) -> list[dict[str, str]]:
    values = ("202610", "某某科技有限公司", "91350100M000100Y43", "8000.00", "640.00", "1280.00")
    return [{**dict(zip(HEADERS, values, strict=True)), "缴费状态": status}]


def store(engine, status: str) -> None:
    mapping = Mapping.load("ss_history")
    result = mapping.map(
        rows(status),
        fetched_at=datetime.now(UTC),
        raw_payload_hash="a" * 64,
        params={"id_number": ID},
    )
    assert result.refused_records == 0
    with engine.begin() as conn:
        store_mapped(conn, mapping, result)


def test_a_month_owed_then_paid_late_is_updated_not_duplicated(engine):
    store(engine, "欠缴")
    store(engine, "欠缴")
    store(engine, "补缴")
    with engine.connect() as conn:
        stored = conn.execute(select(social_security_month.c.status)).scalars().all()
    assert stored == ["PAID_LATE"]
