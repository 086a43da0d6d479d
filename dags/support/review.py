"""The human-review adapter: the hub's referrals as Airflow's human-in-the-loop tasks ask
them, and Airflow's answers as the hub records them.

Airflow's review shapes (``assigned_users``, ``responded_by_user``, ``chosen_options``,
``params_input``) are read and built here and nowhere else: below ``dags/`` a referral is
its application, summary and approvers, and an answer is who chose what, with a comment.
"""

from __future__ import annotations

from typing import Any

OPTIONS = ["Approve", "Reject", "Return"]


def review_request(referral: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of one ``HITLOperator`` for a referral: its masked subject and
    body, assigned to the approvers of its tier (never the maker)."""
    return {
        "subject": referral["subject"],
        "body": referral["body"],
        "assigned_users": [{"id": u, "name": u} for u in referral["approvers"]],
    }


def answer_of(detail: dict[str, Any]) -> dict[str, Any]:
    """What a person answered, from the review task's result: the option chosen, who chose
    it, and the comment they left."""
    return {
        "chosen": detail["chosen_options"][0],
        "responder": (detail.get("responded_by_user") or {}).get("id", ""),
        "comment": (detail.get("params_input") or {}).get("comment"),
    }
