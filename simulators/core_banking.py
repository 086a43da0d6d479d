"""The core banking system's CoreCustomerService over SOAP (customer, accounts, monthly summary);
a customer is a person (resident ID) or a company (its USCC)."""

from __future__ import annotations

from lxml import etree

from simulators import ids
from simulators.controls import Controls
from simulators.dataset import Dataset
from simulators.journal import Journal
from simulators.soap import SoapFault, SoapService

NAMESPACE = "urn:corebank:customer:v1"


class CoreBanking:
    def __init__(
        self, dataset: Dataset, users: dict[str, str], controls: Controls, journal: Journal
    ) -> None:
        self.data = dataset
        self.journal = journal
        self.service = SoapService("core", "core.wsdl", NAMESPACE, users, controls, journal)
        self.service.operation("GetCustomerByIdNumber", ("idNumber",))(self.customer)
        self.service.operation("GetAccounts", ("customerNo",))(self.accounts)
        self.service.operation("GetMonthlySummary", ("accountNo", "fromMonth", "toMonth"))(
            self.monthly
        )

    def customer(self, params: dict[str, str], user: str) -> etree._Element:
        self.journal.record(
            "core",
            "query",
            operation="GetCustomerByIdNumber",
            subject=params["idNumber"],
            user=user,
        )
        subject = params["idNumber"].upper()
        # a person by resident ID, a company (segment CORPORATE) by its USCC
        if not (ids.resident_id_ok(subject) or ids.uscc_ok(subject)):
            raise SoapFault("Client.InvalidIdentifier", "idNumber fails its checksum")
        found = self.data.customer_by_id.get(subject)
        if found is None:
            raise SoapFault("Client.CustomerNotFound", "no customer with this ID number")
        response = self.service.element("GetCustomerByIdNumberResponse")
        el = self.service.sub(response, "customer")
        for tag, value in (
            ("customerNo", found.customer_no),
            ("name", found.name),
            ("segment", found.segment),
            ("customerSince", f"{found.since:%Y%m%d}"),
        ):
            self.service.sub(el, tag, value)
        return response

    def accounts(self, params: dict[str, str], user: str) -> etree._Element:
        self.journal.record(
            "core", "query", operation="GetAccounts", subject=params["customerNo"], user=user
        )
        found = self.data.customer_by_no.get(params["customerNo"])
        if found is None:
            raise SoapFault("Client.CustomerNotFound", "no customer with this number")
        response = self.service.element("GetAccountsResponse")
        for a in found.accounts:
            el = self.service.sub(response, "account")
            for tag, value in (
                ("accountNo", a.account_no),
                ("accountType", a.type),
                ("currency", a.currency),
                ("balance", f"{a.balance:.2f}"),
                ("status", a.status),
                ("openDate", f"{a.open_date:%Y%m%d}"),
            ):
                self.service.sub(el, tag, value)
        return response

    def monthly(self, params: dict[str, str], user: str) -> etree._Element:
        first, last = params["fromMonth"], params["toMonth"]
        for month in (first, last):
            if len(month) != 6 or not month.isdigit() or not 1 <= int(month[4:]) <= 12:
                raise SoapFault("Client", f"month {month!r} is not YYYYMM")
        if first > last:
            raise SoapFault("Client", "fromMonth is after toMonth")
        self.journal.record(
            "core", "query", operation="GetMonthlySummary", subject=params["accountNo"], user=user
        )
        account = self.data.account_by_no.get(params["accountNo"])
        if account is None:
            raise SoapFault("Client.AccountNotFound", "no account with this number")
        response = self.service.element("GetMonthlySummaryResponse")
        for m in account.monthly:
            if first <= m.month <= last:
                el = self.service.sub(response, "month")
                for tag, value in (
                    ("month", m.month),
                    ("inflow", f"{m.inflow:.2f}"),
                    ("outflow", f"{m.outflow:.2f}"),
                    ("averageBalance", f"{m.average_balance:.2f}"),
                ):
                    self.service.sub(el, tag, value)
        return response
