"""The scripted credit-ops user of the demo and the end-to-end tests.

It answers the pending human-in-the-loop reviews of the credit decision DAG as a person would
through Airflow's "Required actions": as one of the approvers the request is assigned to (never
the maker), Approve when the profile scores at least ``approve_from``, otherwise Reject;
with ``--returns N``, the first N referrals it answers are returned for more documents (Return,
the comment naming the documents: the reason the hub keeps and posts into the LOS).

It writes the answer the way Airflow's own API handler does (the HITL row, then
``handle_event_submit`` on the parked task; airflow-notes.md), without the API's auth checks:
for demos and tests only. It waits until a task has been parked for a second before answering
(an answer landing while the task is still parking is overwritten) and checks it left that
state afterwards.

Run: ``python -m devtools.credit_ops [--approve-from 55] [--returns 1]`` until terminated.
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import timedelta

from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import handle_event_submit
from airflow.sdk import timezone
from airflow.triggers.base import TriggerEvent
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState
from sqlalchemy import select

SCORE = re.compile(r"\|\s*score\s*\|\s*(\d+)\s*/\s*100")
RETURN_REASON = "请补充近六个月银行流水 (bank statements, last 6 months)"


def choose(body: str, approve_from: int) -> str:
    found = SCORE.search(body or "")
    return "Approve" if found and int(found[1]) >= approve_from else "Reject"


def answer_pending(approve_from: int, settle: float = 1.0, returns: int = 0) -> list[str]:
    """Answer every review parked for at least ``settle`` seconds, the first ``returns`` of
    them with Return; returns what it did."""
    done = []
    with create_session() as session:
        rows = session.execute(
            select(TaskInstance, HITLDetail)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .where(
                TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                HITLDetail.responded_at.is_(None),
            )
            .with_for_update(of=TaskInstance)
        ).all()
        for ti, detail in rows:
            parked = ti.updated_at or ti.start_date
            if parked and timezone.utcnow() - parked < timedelta(seconds=settle):
                continue
            users = detail.assigned_users or [{"id": "credit_ops", "name": "credit_ops"}]
            choice = "Return" if len(done) < returns else choose(detail.body or "", approve_from)
            comment = (
                RETURN_REASON if choice == "Return" else f"scripted credit ops: {choice.lower()}"
            )
            detail.responded_by = {"id": users[0]["id"], "name": users[0]["name"]}
            detail.responded_at = timezone.utcnow()
            detail.chosen_options = [choice]
            detail.params_input = {"comment": comment}
            session.add(detail)
            handle_event_submit(
                TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
            )
            done.append(f"{detail.subject}: {choice} by {users[0]['id']}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approve-from", type=int, default=55)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--returns", type=int, default=0, help="return the first N referrals")
    args = parser.parse_args()
    returns = args.returns
    while True:
        for line in answer_pending(args.approve_from, returns=returns):
            returns -= ": Return by " in line
            print(line, flush=True)
        time.sleep(args.poll)


if __name__ == "__main__":
    main()
