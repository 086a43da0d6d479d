"""# example_bureau_report

A DAG of one's own that fetches one credit-bureau report with the loanhub provider's hook
alone: no loanhub runtime, store or ledger. The connection (`loanhub_bureau` unless the
`conn_id` param names another) gives the service URL, the WSDL and the WS-Security user; the
hook registers the password with Airflow's masker.

What the hub's own `credit_harvest` adds and a DAG like this must then keep itself: the
applicant's consent, "once" (a hard inquiry is not retried after it was sent: a lost answer is
read back with `RetrieveReport` under the same request reference) and reuse for 30 days.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task


@dag(
    dag_id="example_bureau_report",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["loanhub", "example"],
    doc_md=__doc__,
    params={
        "id_number": Param(type="string", pattern="^[0-9]{17}[0-9X]$", title="Resident ID"),
        "name": Param(type="string", minLength=1, title="Name as on the ID card"),
        "consent_ref": Param(type="string", minLength=1, title="The applicant's consent"),
        "evidence_dir": Param("var/evidence/example", type="string", title="Raw reports kept in"),
        "conn_id": Param("loanhub_bureau", type="string", title="Bureau connection"),
    },
)
def example_bureau_report() -> None:
    @task(retries=0)  # a hard inquiry: never sent twice (see the doc above)
    def fetch_report() -> dict[str, object]:
        from loanhub_provider.hooks import BureauHook

        context = get_current_context()
        params = context["params"]
        # one request reference per run: the bureau refuses a reference used before
        ref = "EX-" + hashlib.sha256(context["run_id"].encode()).hexdigest()[:24]
        bureau = BureauHook(conn_id=params["conn_id"]).get_connector(Path(params["evidence_dir"]))
        report = bureau.query(
            "personal", params["id_number"], params["name"], "01", params["consent_ref"], ref
        )
        # XCom gets ids, never the report: the raw answer is in the evidence store by its hash
        return {
            "request_ref": ref,
            "report_no": report.report_no,
            "thin_file": report.thin_file,
            "raw_sha256": report.raw_sha256,
        }

    fetch_report()


DAG = example_bureau_report()
