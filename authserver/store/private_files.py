"""Files and folders only the server's user may read: the keys folder (0700), the SQLite database
and its WAL and shared-memory files (0600).

New ones are created with these modes whatever the umask; existing ones that let others in are
tightened at start-up when they are ours (a folder mounted read-only from a secret store, or owned
by someone else, is left as it is, with a warning). SQLite creates its ``-wal`` and ``-shm`` files
with the mode of the database file, so a private database keeps them private too.
"""

from __future__ import annotations

import logging
import os
import stat

log = logging.getLogger("authserver.private_files")  # the logger name operators filter on

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_folder(path: str) -> None:
    """Make the folder (0700) if it is missing, or tighten it; OSError if it cannot be made."""
    os.makedirs(path, mode=FOLDER_MODE, exist_ok=True)
    restrict(path, FOLDER_MODE)


def make_private_file(path: str) -> None:
    """Create an empty file (0600) if none is there, or tighten the one that is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        restrict(path, FILE_MODE)


def restrict(path: str, mode: int) -> None:
    """chmod ``path`` to ``mode`` if others may use it and it is ours; a missing path is fine."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_IMODE(st.st_mode) & 0o077 == 0:
        return
    if st.st_uid != os.geteuid():
        log.warning("%s is open to other users (mode %o) and not ours to change", path, stat.S_IMODE(st.st_mode))
        return
    try:
        os.chmod(path, mode)
    except OSError as error:  # a read-only mount
        log.warning("%s is open to other users (mode %o) and cannot be changed: %s", path,
                    stat.S_IMODE(st.st_mode), error.strerror)
