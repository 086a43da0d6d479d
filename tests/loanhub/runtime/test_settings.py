"""The settings refuse what would forge the audit chain's actor, for every process that reads
them (a DAG task as much as a command), not only where the CLI checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loanhub.runtime.settings import HubSettings


@pytest.mark.parametrize("forged", ["ops1\naudit ok", "\u202eops", "x" * 65, "", "ops 1"])
def test_a_forged_actor_in_the_environment_is_refused(monkeypatch, forged):
    monkeypatch.setenv("LOANHUB_ACTOR", forged)
    with pytest.raises(ValidationError, match="LOANHUB_ACTOR refused"):
        HubSettings()


@pytest.mark.parametrize("name", ["night-batch", "cli:j.doe", "ops1@bank.example"])
def test_a_plain_actor_is_taken(monkeypatch, name):
    monkeypatch.setenv("LOANHUB_ACTOR", name)
    assert HubSettings().actor == name
