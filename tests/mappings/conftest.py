"""The bureau's SOAP client the mapping tests read real reports with."""

from __future__ import annotations

import pytest

from connectors.soap import SoapClient
from loanhub.platform.masking import mask_text
from tests.connectors.conftest import soap_config


@pytest.fixture
def bureau(sim_endpoints) -> SoapClient:
    client = SoapClient(soap_config(sim_endpoints, "bureau"), mask_text)
    client.system = "bureau"
    return client
