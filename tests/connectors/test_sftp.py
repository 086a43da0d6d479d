import io
import os
from pathlib import Path

import asyncssh
import pytest

from connectors.sftp import SftpConnector, safe_name
from kernel.failures import ContractError, LegacyError, OutcomeUnknown, TransientError
from tests.connectors.conftest import sftp_config


@pytest.fixture
def sftp(sim_endpoints) -> SftpConnector:
    return SftpConnector(sftp_config(sim_endpoints), system="core")


def test_upload_is_atomic_and_triggered_and_download_round_trips(
    sim, sftp, sim_endpoints, tmp_path
):
    data = os.urandom(3_000_000)
    sftp.put_bytes(data, "/inbox", "BIG.bin")
    root = Path(sim_endpoints["sftp"]["root"])
    assert (root / "inbox" / "BIG.bin").read_bytes() == data
    assert (root / "inbox" / "BIG.bin.ok").exists()
    assert not (root / "inbox" / ".BIG.bin.part").exists()
    paths = [u["path"] for u in sim.journal("sftp", "upload")]
    assert paths == ["/inbox/.BIG.bin.part", "/inbox/BIG.bin.ok"]  # written aside, renamed
    with sftp.session() as s:
        taken = sftp.take(s, "/inbox", "BIG.bin", tmp_path)
    assert taken.path.read_bytes() == data
    assert taken.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert taken.size == len(data)


def test_a_file_is_taken_only_with_its_trigger_and_each_delivery_kept_apart(
    sim, sftp, sim_endpoints, tmp_path
):
    extracts = Path(sim_endpoints["sftp"]["root"]) / "extracts"
    (extracts / "R.dat").write_bytes(b"first")
    with sftp.session() as s:
        assert sftp.take(s, "/extracts", "R.dat", tmp_path) is None  # no .ok yet
    (extracts / "R.dat.ok").write_bytes(b"")
    with sftp.session() as s:
        first = sftp.take(s, "/extracts", "R.dat", tmp_path)
        again = sftp.take(s, "/extracts", "R.dat", tmp_path)
    assert again == first  # the same delivery, by name and SHA-256 (the receipt book's key)
    (extracts / "R.dat").write_bytes(b"corrected")
    with sftp.session() as s:
        redelivered = sftp.take(s, "/extracts", "R.dat", tmp_path)
    assert redelivered.sha256 != first.sha256
    assert first.path.read_bytes() == b"first"  # the earlier delivery is kept beside it
    assert redelivered.path.read_bytes() == b"corrected"
    assert (extracts / "R.dat").exists()  # nothing in the counterpart's folder is touched


def test_an_unknown_or_changed_host_key_is_refused_before_authentication(sim, sim_endpoints):
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    connector = SftpConnector(sftp_config(sim_endpoints, host_key=other))
    with pytest.raises(ContractError, match="is not the pinned"), connector.session():
        pass
    assert sim.journal("sftp") == []  # no login was attempted, nothing was read


def test_a_wrong_client_key_fails_at_once(sim, sim_endpoints, tmp_path):
    key = tmp_path / "k"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    connector = SftpConnector(sftp_config(sim_endpoints, private_key=key))
    with pytest.raises(ContractError, match="authentication refused"), connector.session():
        pass
    assert len(sim.journal("sftp", "auth_failed")) == 1


def test_a_refused_connection_is_transient(sim_endpoints):
    connector = SftpConnector(sftp_config(sim_endpoints, port=9))
    with pytest.raises(TransientError), connector.session():
        pass


def test_a_dropped_transfer_is_transient(sim, sftp, sim_endpoints, tmp_path):
    extracts = Path(sim_endpoints["sftp"]["root"]) / "extracts"
    (extracts / "D.dat").write_bytes(os.urandom(500_000))
    (extracts / "D.dat.ok").write_bytes(b"")
    sim.controls({"sftp": {"read": {"fault": "drop", "times": 1, "drop_after_bytes": 65536}}})
    with pytest.raises(TransientError), sftp.session() as s:
        sftp.take(s, "/extracts", "D.dat", tmp_path)
    with sftp.session() as s:  # the retry gets it whole
        assert sftp.take(s, "/extracts", "D.dat", tmp_path).size == 500_000


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", "x\x00y", "tab\tname", "a\\b"])
def test_unsafe_names_are_refused(name):
    assert not safe_name(name)


def test_listings_drop_unsafe_names_and_uploads_refuse_them(sim, sftp, sim_endpoints):
    inbox = Path(sim_endpoints["sftp"]["root"]) / "inbox"
    (inbox / "ok.csv").write_bytes(b"x")
    (inbox / "evil\x07name").write_bytes(b"x")
    with sftp.session() as s:
        names = s.listdir("/inbox")
        assert "ok.csv" in names
        assert "evil\x07name" not in names
        with pytest.raises(ContractError):
            s.upload(io.BytesIO(b"x"), "/inbox", "../escape", trigger=False)


@pytest.mark.parametrize(
    ("at", "when", "suffix", "kind", "in_place"),
    [
        ("open", "before", ".part", TransientError, False),
        ("write", "after", ".part", TransientError, False),
        ("rename", "before", "", OutcomeUnknown, False),  # its answer lost: nobody knows
        ("rename", "after", "", OutcomeUnknown, True),
        ("close", "after", ".ok", OutcomeUnknown, True),
    ],
)
def test_an_upload_cut_off_is_transient_before_the_rename_and_unknown_from_it_on(
    sim, sftp, sim_endpoints, at, when, suffix, kind, in_place
):
    name = f"CUT-{at}-{when}.bin"
    path = f"/inbox/.{name}.part" if suffix == ".part" else f"/inbox/{name}{suffix}"
    sim.controls({"sftp": {"crash": {"at": at, "when": when, "path": path, "times": 1}}})
    with pytest.raises(LegacyError) as raised:
        sftp.put_bytes(os.urandom(600_000), "/inbox", name)
    assert type(raised.value) is kind
    assert (Path(sim_endpoints["sftp"]["root"]) / "inbox" / name).exists() is in_place
    assert [c["path"] for c in sim.journal("sftp", "crash")] == [path]


def test_a_killed_uploads_part_is_withdrawn_and_only_ours(sim, sftp, sim_endpoints):
    inbox = Path(sim_endpoints["sftp"]["root"]) / "inbox"
    sim.controls(
        {"sftp": {"crash": {"at": "write", "when": "after", "path": "/inbox/.W.bin.part"}}}
    )
    with pytest.raises(TransientError):
        sftp.put_bytes(os.urandom(600_000), "/inbox", "W.bin")
    assert (inbox / ".W.bin.part").exists()  # the dropped connection could not remove it
    (inbox / "W.bin").write_bytes(b"theirs")
    with sftp.session() as s:
        assert s.withdraw_part("/inbox", "W.bin") is True
        assert s.withdraw_part("/inbox", "W.bin") is False
    assert not (inbox / ".W.bin.part").exists()
    assert (inbox / "W.bin").read_bytes() == b"theirs"


def test_an_upload_into_a_folder_that_is_not_ours_is_a_contract_failure(sim, sftp):
    with pytest.raises(ContractError, match="nothing sent"):
        sftp.put_bytes(b"x", "/outbox", "N.bin")
