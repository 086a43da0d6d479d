"""The core connector asks for a company by its USCC as for a person by resident ID, and
refuses a bad identifier of either kind before anything is sent (core simulator)."""

from __future__ import annotations

import pytest

from connectors.core import CoreConnector
from kernel.failures import BusinessAnswer, ContractError
from loanhub.platform.masking import mask_text
from tests.connectors.conftest import soap_config


def test_a_company_by_its_uscc_and_bad_identifiers_refused_unsent(sim, sim_endpoints, sim_dataset):
    core = CoreConnector(soap_config(sim_endpoints, "core"), mask_text)
    company = sim_dataset.corporate_customers[1]
    found = core.customer(company.id_number, enterprise=True)
    assert found.body.findtext(".//{*}customerNo") == company.customer_no
    assert found.body.findtext(".//{*}segment") == "CORPORATE"
    asked = [q["subject"] for q in sim.journal("core", "query")]
    assert asked == [company.id_number]
    bad = company.id_number[:-1] + ("0" if company.id_number[-1] != "0" else "1")
    with pytest.raises(ContractError):
        core.customer(bad, enterprise=True)
    with pytest.raises(ContractError):  # a USCC is no resident ID: a person's lookup refuses it
        core.customer(company.id_number)
    assert [q["subject"] for q in sim.journal("core", "query")] == [company.id_number]
    elsewhere = next(
        a.id_number
        for a in sim_dataset.applications[80:]
        if a.id_number not in sim_dataset.customer_by_id
    )
    with pytest.raises(BusinessAnswer, match="CustomerNotFound"):
        core.customer(elsewhere, enterprise=True)
