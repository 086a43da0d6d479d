"""Airflow's REST API as credit ops uses it from the command line: trigger a DAG run with its
form's values, follow it to the end, list the reviews waiting for the signed-in approver and
answer them. Plain HTTP (the hub imports no Airflow below ``dags/``), and the one place that
reads the API's JSON: the CLI gets ``PendingReview`` objects, not Airflow's shapes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.config import AirflowApiConfig

FINISHED = {"success", "failed"}
SETTLE_SECONDS = 15.0


class AirflowApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(f"{method} {path}: {status} {detail}")
        self.status = status


@dataclass(frozen=True)
class PendingReview:
    """A human-review task parked in Airflow, waiting for an answer."""

    subject: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    created_at: datetime

    @classmethod
    def from_api(cls, detail: dict[str, Any]) -> PendingReview:
        ti = detail["task_instance"]
        return cls(
            subject=str(detail["subject"]),
            dag_id=str(ti["dag_id"]),
            run_id=str(ti["dag_run_id"]),
            task_id=str(ti["task_id"]),
            map_index=int(ti["map_index"]),
            created_at=datetime.fromisoformat(str(detail["created_at"]).replace("Z", "+00:00")),
        )


class AirflowApi:
    def __init__(self, config: AirflowApiConfig, http: requests.Session | None = None) -> None:
        self.url = config.url.rstrip("/")
        self.http = http or requests.Session()
        answer = self.http.post(
            f"{self.url}/auth/token",
            json={
                "username": config.user,
                "password": config.password.get_secret_value(),
            },
            timeout=30,
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        self.user = config.user

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        if answer.status_code >= 400:
            raise AirflowApiError(method, path, answer.status_code, answer.text[:500])
        return answer.json()

    def pending_reviews(self, dag_id: str) -> list[PendingReview]:
        """The reviews of ``dag_id`` parked for an answer that the signed-in user may give
        (Airflow refuses an answer from anyone not assigned)."""
        found: list[dict[str, Any]] = []
        size = 50
        while True:
            page = self._call(
                "GET",
                f"/dags/{dag_id}/dagRuns/~/hitlDetails",
                params={
                    "response_received": False,
                    "state": "awaiting_input",
                    "limit": size,
                    "offset": len(found),
                },
            )["hitl_details"]
            found.extend(page)
            if len(page) < size:
                break
        return [
            PendingReview.from_api(d)
            for d in found
            if any(u["id"] == self.user for u in d.get("assigned_users", []))
        ]

    def answer_review(self, review: PendingReview, option: str, comment: str = "") -> None:
        """Answer one review as the signed-in user. Airflow refuses an unknown option (400),
        a second answer (409) and a user the review is not assigned to (403).

        A review younger than ``SETTLE_SECONDS`` is answered only once it is that old: in
        Airflow 3.3 an answer that resumes the task before the scheduler has heard that the
        parking process ended makes the scheduler fail the resumed task (measured here: the
        executor's report came 5 s after parking on a busy machine). People take longer; a
        script must wait."""
        age = (datetime.now(UTC) - review.created_at).total_seconds()
        if age < SETTLE_SECONDS:
            time.sleep(SETTLE_SECONDS - age)
        self._call(
            "PATCH",
            f"/dags/{review.dag_id}/dagRuns/{review.run_id}/taskInstances/{review.task_id}"
            f"/{review.map_index}/hitlDetails",
            json={"chosen_options": [option], "params_input": {"comment": comment}},
        )

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Unpause and trigger; returns the run id. Airflow validates ``conf`` against the
        DAG's Params and refuses what the form would refuse."""
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run = self._call(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        return str(run["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, mapped ones included, page after page (the API caps
        a page at ``[api] maximum_page_limit``, and its ``total_entries`` may be a capped
        count, so the pages themselves say when the list ends)."""
        found: list[dict[str, Any]] = []
        size = 50  # at most the API's page cap; a shorter page is the last one
        while True:
            page = self._call(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": size, "offset": len(found)},
            )["task_instances"]
            found.extend(page)
            if len(page) < size:
                return found

    def state(self, dag_id: str, run_id: str) -> tuple[str, Counter[str]]:
        tasks = self.task_instances(dag_id, run_id)
        states = Counter(str(t.get("state") or "none") for t in tasks)
        return str(self.run(dag_id, run_id)["state"]), states

    def follow(
        self,
        dag_id: str,
        run_id: str,
        on_change: Callable[[str, Counter[str]], None],
        poll: float = 2.0,
        timeout: float = 6 * 3600,
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state, tasks = self.state(dag_id, run_id)
            on_change(state, tasks)
            if state in FINISHED or time.monotonic() > deadline:
                return state
            time.sleep(poll)
