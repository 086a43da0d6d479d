"""How every connector reports failure: three kinds, named in the exception type
(architecture.md, "Errors"), plus the outcome nobody knows.

- ``TransientError``: busy, timeout before send, refused or dropped connection: retry later.
- ``BusinessAnswer``: the system answered and the answer is "no" (subject unknown, account
  closed): record it, never retry.
- ``ContractError``: bad input or a broken contract (checksum, XSD, trailer, unknown host key,
  authentication): refuse, quarantine, alert; nothing partial is kept.
- ``OutcomeUnknown``: the request may have reached the system (timeout after send): the work
  item goes IN_DOUBT and is settled by reading the system's state, never by resending blindly.
"""

from __future__ import annotations

from schemas.hub import FailureKind


class ConnectorError(Exception):
    kind: FailureKind | None = None

    def __init__(self, message: str, *, system: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.code = code


class TransientError(ConnectorError):
    kind = FailureKind.TRANSIENT


class BusinessAnswer(ConnectorError):
    kind = FailureKind.BUSINESS


class ContractError(ConnectorError):
    kind = FailureKind.CONTRACT


class OutcomeUnknown(ConnectorError):
    """Sent, and then nothing: the effect may or may not have happened."""
