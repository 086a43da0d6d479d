"""The human-review adapter: the hub's referral as Airflow's review task asks it, and the
answer Airflow records as the hub reads it (the only place that knows Airflow's shapes)."""

from dags.support.review import OPTIONS, answer_of, review_request

REFERRAL = {
    "application_no": "AP-9",
    "subject": "复核 AP-9: 评分 52",
    "body": "申请人 张* ...",
    "approvers": ["credit_officer", "senior_officer"],
    "score": 52,
    "rate": "4.35",
    "tier": "T1",
}


def test_a_referral_is_asked_of_its_approvers_only() -> None:
    request = review_request(REFERRAL)
    assert request == {
        "subject": REFERRAL["subject"],
        "body": REFERRAL["body"],
        "assigned_users": [
            {"id": "credit_officer", "name": "credit_officer"},
            {"id": "senior_officer", "name": "senior_officer"},
        ],
    }
    assert "score" not in request  # the review task gets the masked summary, nothing else


def test_an_answer_is_who_chose_what_with_the_comment() -> None:
    detail = {
        "chosen_options": ["Approve"],
        "responded_by_user": {"id": "senior_officer", "name": "senior_officer"},
        "params_input": {"comment": "checked the file"},
    }
    assert answer_of(detail) == {
        "chosen": "Approve",
        "responder": "senior_officer",
        "comment": "checked the file",
    }
    assert answer_of({"chosen_options": ["Reject"]}) == {
        "chosen": "Reject",
        "responder": "",
        "comment": None,
    }
    assert set(OPTIONS) == {"Approve", "Reject", "Return"}
