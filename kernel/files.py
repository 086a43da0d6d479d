"""Files only their owner reads: the modes of everything the hub keeps on disk.

The hub's files hold what a bank must not leak: the embedded store has every applicant's ID
number in clear, kept files are the legacy systems' own payloads, evidence is the exchanges
themselves. Each hub process sets the owner-only umask at its start
(``loanhub.platform.files.owner_only_process``), and every writer below the hub still asks
for owner-only modes itself (these functions): a writer run by a process that forgot the
umask (a library caller, a test, a tool of the bank's) must not fall back to 0644. Kept here,
at the bottom of the stack, because connectors and bots write files too and import nothing
of the hub.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "OWNER_ONLY_UMASK",
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "open_private",
    "private_dir",
    "tighten",
    "write_private",
]

OWNER_ONLY_UMASK = 0o077
"""The umask of every hub process: whatever a library creates is the owner's only."""
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def tighten(path: Path | str) -> bool:
    """Drop the group's and others' bits of ``path`` if it is there (a file made 0644 by an
    old install, a directory 0755): 0600 for a file, 0700 for a directory. A symlink is left
    alone (chmod would follow it out of the tree), and so is a path of another owner (only the
    owner may chmod; the caller keeps working). Returns whether the mode changed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return False
    wanted = PRIVATE_DIR if stat.S_ISDIR(st.st_mode) else PRIVATE_FILE
    if stat.S_IMODE(st.st_mode) & 0o077 == 0:
        return False
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & wanted)
    except PermissionError:
        return False
    return True


def private_dir(path: Path, *, tighten_existing: bool = True) -> Path:
    """``mkdir -p`` where every directory it makes is 0700, and ``path`` itself tightened to
    0700 if it was there already (``tighten_existing``: the hub's own directories; not for a
    directory the hub may merely sit in, such as the one a store URL names).

    ``os.makedirs(mode=...)`` applies the mode to the last directory only (Python 3.7+), so
    the missing ancestors are made one by one; ancestors that were there are never touched."""
    missing: list[Path] = []
    here = path
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another writer made it meanwhile
            directory.mkdir(mode=PRIVATE_DIR)
        tighten(directory)
    if tighten_existing:
        tighten(path)
    return path


def open_private(path: Path | str) -> BinaryIO:
    """``path`` opened for writing from empty, 0600 whatever the umask and whatever mode an
    earlier file of that name had; refuses to write through a symlink planted in its place."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path | str, data: bytes) -> None:
    """``path`` written with ``data``, 0600 (``open_private``)."""
    with open_private(path) as out:
        out.write(data)
