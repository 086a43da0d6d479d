"""The core's nightly repayment extract (``LNREPAY.D<YYMMDD>``), taken from its SFTP folder.

The core's job writes the extract under a temporary name and renames it into
``/extracts``, so a file that is there is whole; its trailer (count and hash) is the
completeness check the flows apply before loading anything (``mappings.lnrepay``), reading
the file from disk chunk by chunk.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from connectors.sftp import SftpConnector, TakenFile

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
        """The extract of ``business_date`` once it is there; None until then. Streamed to
        disk (never held in memory), refused before download when it is not a regular file
        or is above ``SftpLimits.extract``, and left nowhere half-written (``fetch``)."""
        name = extract_name(business_date)
        with self.sftp.session("take extracts") as session:
            if session.lstat(f"{FOLDER}/{name}") is None:
                return None
            return self.sftp.fetch(
                session,
                FOLDER,
                name,
                self.local_dir,
                limit=self.sftp.config.limits.extract,
                keep_as=name,
            )
