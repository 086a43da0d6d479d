"""The async SFTP client (the triggerer's) against the SFTP simulator: it lists and stats with
the pinned host key, refuses any other key before authenticating, and fails in the kernel's
vocabulary."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest

from connectors.sftp_async import AsyncSftpClient, SftpTarget
from kernel.failures import ContractError, TransientError
from tests.connectors.conftest import sftp_config


def target(endpoints: dict, **over: object) -> SftpTarget:
    base = SftpTarget.from_config(sftp_config(endpoints))
    return SftpTarget(**{**base.__dict__, **over})


async def look(client: AsyncSftpClient, folder: str, pattern: str) -> tuple[dict, str | None]:
    async with client.session() as s:
        found = await s.delivered(folder, pattern, require_ok=True)
        return found, await s.version(f"{folder}/A1.dat")


def test_lists_only_files_with_their_trigger_and_names_each_delivery(sim, sim_endpoints):
    outbox = Path(sim_endpoints["sftp"]["root"]) / "extracts"
    for name in ("A1.dat", "A2.dat", "B1.dat"):
        (outbox / name).write_bytes(b"x" * 3)
    (outbox / "A1.dat.ok").write_bytes(b"")
    (outbox / "B1.dat.ok").write_bytes(b"")
    client = AsyncSftpClient(target(sim_endpoints), system="core")
    found, version = asyncio.run(look(client, "/extracts", r"A\d\.dat"))
    assert list(found) == ["A1.dat"]  # A2 has no .ok yet, B1 does not match
    assert found["A1.dat"] == version
    assert version.startswith("3@")
    (outbox / "A1.dat").write_bytes(b"again")  # a new delivery under the same name
    assert asyncio.run(look(client, "/extracts", r"A\d\.dat"))[0]["A1.dat"].startswith("5@")


def test_an_unknown_host_key_is_refused_before_authentication(sim, sim_endpoints):
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    client = AsyncSftpClient(target(sim_endpoints, host_key=other))
    with pytest.raises(ContractError, match="not the pinned"):
        asyncio.run(look(client, "/extracts", ".*"))
    assert sim.journal("sftp") == []  # no login was attempted, nothing was read


def test_a_refused_key_is_a_contract_error_and_a_closed_port_transient(
    sim, sim_endpoints, tmp_path
):
    key = tmp_path / "k"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    with pytest.raises(ContractError, match="authentication refused"):
        asyncio.run(look(AsyncSftpClient(target(sim_endpoints, private_key_path=key)), "/", ".*"))
    with pytest.raises(TransientError, match="cannot connect"):
        asyncio.run(look(AsyncSftpClient(target(sim_endpoints, port=9)), "/", ".*"))


def test_a_missing_folder_is_a_contract_error(sim, sim_endpoints):
    with pytest.raises(ContractError, match="cannot list /nowhere"):
        asyncio.run(look(AsyncSftpClient(target(sim_endpoints)), "/nowhere", ".*"))
