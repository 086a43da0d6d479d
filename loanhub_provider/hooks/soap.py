"""The SOAP services with WS-Security (the bureau, the core): connection type ``loanhub_soap``.

host = the service URL, login/password = the UsernameToken, extra ``wsdl`` and
``operation_timeout``. ``test_connection`` fetches the WSDL and makes one authenticated call
that changes and costs nothing: a read about a subject nobody has, which the service answers
with a business fault only after it has checked the token.
"""

from __future__ import annotations

import tempfile
from contextlib import suppress
from pathlib import Path
from typing import ClassVar

from pydantic import SecretStr

from connectors.bureau import BureauConnector
from connectors.config import SoapConfig
from connectors.core import CoreConnector
from connectors.evidence import EvidenceStore
from connectors.soap import SoapClient
from kernel.failures import BusinessAnswer, ContractError, LegacyError
from loanhub.platform.masking import mask_text
from loanhub_provider.hooks.base import LoanhubHook

PROBE_REF = "LOANHUB-TEST-CONNECTION"  # a request reference / customer number nobody has


class SoapHook(LoanhubHook):
    """Any loanhub SOAP service; ``BureauHook`` and ``CoreHook`` name the two the hub uses."""

    conn_type: ClassVar[str] = "loanhub_soap"
    default_conn_name: ClassVar[str] = "loanhub_bureau"
    hook_name: ClassVar[str] = "Loanhub SOAP service (WS-Security)"

    def get_config(self) -> SoapConfig:
        """The connector's typed config, read from the connection now; the password is
        registered with Airflow's masker first."""
        conn = self.connection
        url = self.url("host (the service URL)")
        password = self.secret(conn.password, f"{self.conn_id}.password") or ""
        timeout = self.field("operation_timeout")
        return SoapConfig(
            url=url,
            wsdl=str(self.field("wsdl") or f"{url}?wsdl"),
            username=str(self.required(conn.login, "login")),
            password=SecretStr(password),
            **({"operation_timeout": float(timeout)} if timeout is not None else {}),
        )

    def test_connection(self) -> tuple[bool, str]:
        """WSDL fetched, then one authenticated read about nobody (changes nothing)."""
        try:
            config = self.get_config()
        except (ValueError, LegacyError) as exc:
            return False, f"connection {self.conn_id!r} is incomplete: {exc}"
        try:
            with tempfile.TemporaryDirectory(prefix="loanhub-test-") as tmp:
                evidence = EvidenceStore(Path(tmp), mask_text)
                bureau = BureauConnector(config, mask_text, evidence)
                operations = set(operations_of(bureau))
                if "RetrieveReport" in operations:  # the bureau: a reference it never received
                    bureau.retrieve(PROBE_REF, "000000000000000000", "01")
                elif "GetAccounts" in operations:  # the core: a customer number nobody has
                    # "no such customer" is said only to an authenticated caller
                    with suppress(BusinessAnswer):
                        CoreConnector(config, mask_text, evidence).accounts(PROBE_REF)
                else:
                    return True, f"WSDL {config.wsdl} loaded ({len(operations)} operations)"
        except ContractError as exc:
            if exc.code and exc.code.startswith("Client.Authentication"):
                return False, f"authentication refused by {config.url}: {exc}"
            return False, f"refused by {config.url}: {exc}"
        except (LegacyError, OSError) as exc:
            return False, f"{config.url} not reachable: {exc}"
        return True, f"WSDL {config.wsdl} loaded and user {config.username!r} authenticated"


def operations_of(client: SoapClient) -> list[str]:
    """The operations the service's WSDL offers (fetching the WSDL if not yet done)."""
    wsdl = client.prepared.client.wsdl
    return [
        name
        for service in wsdl.services.values()
        for port in service.ports.values()
        for name in port.binding.all()
    ]
