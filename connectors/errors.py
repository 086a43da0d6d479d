"""The connectors' failure vocabulary: the hub-wide one in ``schemas.failures``, under the
names connector code has always used."""

from __future__ import annotations

from schemas.failures import (
    BusinessAnswer,
    ContractError,
    LegacyError,
    NeedsHuman,
    OutcomeUnknown,
    TransientError,
)

ConnectorError = LegacyError

__all__ = [
    "BusinessAnswer",
    "ConnectorError",
    "ContractError",
    "NeedsHuman",
    "OutcomeUnknown",
    "TransientError",
]
