"""``hub_housekeeping`` under ``dag.test()`` on PostgreSQL: the closed application's case file
archived once (with the deployment's renderer, in the archive's language), then
the retention purge, each kind audited; the archive survives the purge; a second run archives
nothing new."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import func, select

from loanhub.platform import audit, audit_checks
from schemas.tables import audit_event, case_archive
from tests.dags.test_credit_e2e import run_dag
from tests.loanhub.casebook import add_application, decide, long_ago, person


def test_archive_then_purge(airflow_env, pg_url, pg_engine, tmp_path: Path) -> None:
    add_application(pg_engine, "AP0000000001", person(), status="REJECTED", at=long_ago(2))
    decide(pg_engine, "AP0000000001", "REJECT", long_ago(2))
    old = tmp_path / "data" / "evidence" / "raw" / "ab" / ("ab" + "1" * 62)
    old.parent.mkdir(parents=True)
    old.write_bytes(b"<soap/>")
    os.utime(old, (time.time() - 400 * 86400,) * 2)
    env = {
        **airflow_env,
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_DATA_DIR": str(tmp_path / "data"),
    }
    run_dag(env, "hub_housekeeping", {})
    run_dag(env, "hub_housekeeping", {})
    with pg_engine.connect() as conn:
        archived = conn.execute(select(case_archive.c.application_no)).scalars().all()
        actions = dict(
            conn.execute(
                select(audit_event.c.action, func.count()).group_by(audit_event.c.action)
            ).all()
        )
    assert archived == ["AP0000000001"]
    assert actions == {"case.archived": 1, "retention.purged": 10}  # 5 kinds, 2 runs
    assert not old.exists()
    [kept] = (tmp_path / "data" / "archive").glob("AP0000000001.*.html")
    assert b'<html lang="zh-CN">' in kept.read_bytes()  # the deployment's renderer, in Chinese
    assert audit.verify(pg_engine).ok
    walked = audit_checks.latest(pg_engine)  # the daily walk, recorded for /metrics
    assert walked is not None
    assert walked.ok
    assert walked.checked == sum(actions.values())
