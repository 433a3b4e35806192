"""An inter-process lock for shared file systems (NFS), built on ``os.link``.

``os.link`` is atomic on NFS, unlike ``O_EXCL`` on old clients and ``fcntl`` locks on
many. The lock file's text names its holder (host, PID namespace, PID, a random tag); its
mtime is the lock's age. A lock is broken when its holder is known dead (same host and
PID namespace, no such live process: a worker killed with SIGKILL), or when it is older
than ``ttl`` seconds (a holder on another host that died).
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Optional

__all__ = ["LinkLock"]

log = logging.getLogger("uqhpo")


def _pid_namespace() -> int:
    """The inode of this process's PID namespace (0 where there is no /proc)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def process_gone(pid: int) -> bool:
    """True when no live process has ``pid`` here (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


_process_gone = process_gone  # former private name


class LinkLock:
    """Inter-process lock on a shared file system, built on ``os.link``.

    Args:
        path: the lock file to create (it exists exactly while the lock is held).
        ttl: seconds after which a held lock is presumed dead and broken.
    """

    def __init__(self, path: str, ttl: float = 30.0):
        self.path = path
        self.ttl = float(ttl)
        self._held: Optional[str] = None  # the unique text of the lock file we hold

    def acquire(self) -> None:
        # the host goes last: it may contain dots, the other parts do not
        unique = f"{os.getpid()}.{_pid_namespace()}.{uuid.uuid4().hex[:12]}.{socket.gethostname()}"
        token = f"{self.path}.{unique}"
        with open(token, "w") as fh:  # its mtime is the lock's age; its text says whose it is
            fh.write(unique + "\n")
        try:
            delay = 0.0005
            while True:
                try:
                    os.link(token, self.path)
                except OSError:
                    pass
                # on NFS a link can be made although the call reports failure: trust the count
                if os.stat(token).st_nlink == 2:
                    self._held = unique + "\n"
                    return
                self._break_if_stale()
                time.sleep(delay)
                delay = min(delay * 1.5, 0.01)
        finally:
            os.unlink(token)

    @staticmethod
    def _holder_dead(owner: str) -> bool:
        """True when ``owner`` (a lock file's text) is a process of this host that is gone."""
        parts = owner.strip().split(".", 3)
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
            return False  # another format: only the ttl can tell
        pid, namespace, host = int(parts[0]), int(parts[1]), parts[3]
        if host != socket.gethostname() or namespace == 0 or namespace != _pid_namespace():
            return False
        return pid != os.getpid() and process_gone(pid)

    def _break_if_stale(self) -> None:
        try:
            with open(self.path) as fh:  # age and owner from one open file: the same lock
                age = time.time() - os.fstat(fh.fileno()).st_mtime
                owner = fh.read()
        except FileNotFoundError:
            return
        dead = self._holder_dead(owner)
        if age < self.ttl and not dead:
            return
        grave = f"{self.path}.stale.{uuid.uuid4().hex[:12]}"
        try:
            os.rename(self.path, grave)  # atomic: only one breaker moves a given lock file
        except FileNotFoundError:
            return
        if _read(grave) != owner:
            # a live process took the lock between our read and rename: give it back
            try:
                os.link(grave, self.path)
            except OSError:
                log.warning("journal lock %s: could not restore a lock moved by mistake", self.path)
        elif dead:
            log.warning("journal lock %s: broke a lock of the dead process %s", self.path, owner.split(".", 1)[0])
        else:
            log.warning("journal lock %s: broke a lock older than %.0f s", self.path, self.ttl)
        os.unlink(grave)

    def release(self) -> None:
        try:
            # compare contents, not inodes: a freed inode number is soon reused
            if _read(self.path) == self._held:
                os.unlink(self.path)
            else:
                log.warning("journal lock %s was broken while held (held longer than %.0f s?)", self.path, self.ttl)
        except FileNotFoundError:
            log.warning("journal lock %s vanished while held", self.path)
        self._held = None

    def __enter__(self) -> LinkLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
