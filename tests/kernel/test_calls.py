"""How a call's outcome is named: the failure kinds, plus in doubt and needs a person."""

from __future__ import annotations

import pytest

from kernel.calls import CallOutcome, SourceCall, observed, outcome_of
from kernel.failures import (
    BusinessAnswer,
    ContractError,
    NeedsHuman,
    OutcomeUnknown,
    TransientError,
)


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (None, CallOutcome.OK),
        (BusinessAnswer("not found"), CallOutcome.BUSINESS),
        (TransientError("busy"), CallOutcome.TRANSIENT),
        (ContractError("xsd"), CallOutcome.CONTRACT),
        (OutcomeUnknown("timeout after send"), CallOutcome.IN_DOUBT),
        (NeedsHuman("captcha"), CallOutcome.NEEDS_HUMAN),
        (KeyError("bug"), CallOutcome.ERROR),
    ],
)
def test_each_failure_kind_has_its_outcome(exc, outcome):
    assert outcome_of(exc) is outcome


def test_observed_reraises_unchanged_and_reports_once():
    seen: list[SourceCall] = []
    failure = TransientError("busy " + "x" * 600)
    with pytest.raises(TransientError) as raised, observed(seen.append, "bureau", "Query"):
        raise failure
    assert raised.value is failure
    (call,) = seen
    assert (call.system, call.operation, call.outcome) == ("bureau", "Query", "transient")
    assert call.error is not None
    assert len(call.error) == 500  # bounded, as stored
    assert call.started_at.tzinfo is not None
