"""The core banking system's customer service over SOAP: customer, accounts, monthly summary.

Reads only: safe to retry, so a timeout after send is transient here, not in doubt.
"""

from __future__ import annotations

from connectors.soap import SoapAnswer, SoapClient
from kernel.failures import ContractError
from schemas.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc


class CoreConnector(SoapClient):
    system = "core"

    def customer(self, id_number: str, *, enterprise: bool = False) -> SoapAnswer:
        """The customer by resident ID, or by USCC for a company (``enterprise``): the core
        answers both under ``GetCustomerByIdNumber``; a bad checksum is refused unsent."""
        try:
            subject = validate_uscc(id_number) if enterprise else validate_resident_id(id_number)
        except InvalidIdentifier as exc:
            raise ContractError(str(exc), system=self.system) from exc
        return self.call("GetCustomerByIdNumber", idempotent=True, idNumber=subject)

    def accounts(self, customer_no: str) -> SoapAnswer:
        return self.call("GetAccounts", idempotent=True, customerNo=customer_no)

    def monthly_summary(self, account_no: str, from_month: str, to_month: str) -> SoapAnswer:
        """Months as ``YYYYMM``, inclusive."""
        return self.call(
            "GetMonthlySummary",
            idempotent=True,
            accountNo=account_no,
            fromMonth=from_month,
            toMonth=to_month,
        )
