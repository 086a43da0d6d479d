"""The core's nightly repayment extract (``LNREPAY.D<YYMMDD>``), taken from its SFTP folder.

The core's job writes the extract under a temporary name and renames it into
``/extracts``, so a file that is there is whole; its trailer (count and hash) is the
completeness check the flows apply before loading anything (``mappings.lnrepay``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from connectors.sftp import SftpConnector, TakenFile
from kernel.files import open_private, private_dir

FOLDER = "/extracts"


def extract_name(business_date: date) -> str:
    return f"LNREPAY.D{business_date:%y%m%d}"


class CoreExtracts:
    """Downloads the night's extract into ``local_dir``; the receipt and the load are the
    flows' (``loanhub.flows.repayments``)."""

    def __init__(self, sftp: SftpConnector, local_dir: Path) -> None:
        self.sftp = sftp
        self.system = sftp.system
        self.local_dir = local_dir

    def take(self, business_date: date) -> TakenFile | None:
        """The extract of ``business_date`` once it is there; None until then."""
        name = extract_name(business_date)
        with self.sftp.session("take extracts") as session:
            if not session.exists(f"{FOLDER}/{name}"):
                return None
            private_dir(self.local_dir)
            temp = self.local_dir / f".{name}.part"
            with open_private(temp) as out:
                digest, size = session.download(f"{FOLDER}/{name}", out)
            path = self.local_dir / name
            temp.replace(path)
        return TakenFile(name, path, digest, size)
