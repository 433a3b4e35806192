"""The os.link lock of the journal: exclusion, breaking a dead holder's lock, release."""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import threading
import time

from uqhpo.storage._lock import LinkLock, _pid_namespace


def test_link_lock_excludes_a_second_holder(tmp_path):
    target = str(tmp_path / "f.lock")
    first, second = LinkLock(target), LinkLock(target)
    first.acquire()
    got = threading.Event()

    def take() -> None:
        second.acquire()
        got.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not got.wait(0.2)
    first.release()
    thread.join()
    assert got.is_set()
    second.release()
    assert os.listdir(tmp_path) == []  # no lock and no temporary link files left


def test_link_lock_breaks_a_dead_holders_lock(tmp_path, caplog):
    target = tmp_path / "f.lock"
    target.write_text("host 12345 0\n")
    old = time.time() - 100
    os.utime(target, (old, old))
    lock = LinkLock(str(target), ttl=30.0)
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        lock.acquire()
    assert os.stat(target).st_mtime > old + 50  # now ours
    assert any("broke a lock" in rec.message for rec in caplog.records)
    lock.release()
    assert os.listdir(tmp_path) == []


def test_link_lock_keeps_a_fresh_lock(tmp_path):
    target = tmp_path / "f.lock"
    target.write_text("someone else\n")
    lock = LinkLock(str(target), ttl=30.0)
    lock._break_if_stale()
    assert target.read_text() == "someone else\n"


def test_release_does_not_remove_another_holders_lock(tmp_path, caplog):
    target = tmp_path / "f.lock"
    lock = LinkLock(str(target))
    lock.acquire()
    os.unlink(target)
    target.write_text("taken over\n")
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        lock.release()
    assert target.read_text() == "taken over\n"
    assert any("broken while held" in rec.message for rec in caplog.records)


def _lock_text(pid: int) -> str:
    return f"{pid}.{_pid_namespace()}.0123456789ab.{socket.gethostname()}\n"


def test_a_lock_of_a_dead_process_is_broken_at_once(tmp_path, caplog):
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(child.stdout)  # the process has exited and been reaped
    target = tmp_path / "f.lock"
    target.write_text(_lock_text(dead_pid))  # fresh: the ttl alone would wait 30 s
    lock = LinkLock(str(target), ttl=30.0)
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        lock.acquire()
    assert any(f"dead process {dead_pid}" in rec.message for rec in caplog.records)
    lock.release()
    assert os.listdir(tmp_path) == []


def test_a_lock_of_a_live_process_is_kept(tmp_path):
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as live:
        for text in [_lock_text(live.pid), _lock_text(os.getpid()),
                     f"{live.pid}.{_pid_namespace() + 1}.0123456789ab.{socket.gethostname()}\n",  # other namespace
                     f"{2 ** 22 + 7}.{_pid_namespace()}.0123456789ab.some-other-host\n"]:           # other host
            assert not LinkLock._holder_dead(text), text
        live.stdin.close()
    assert LinkLock._holder_dead(_lock_text(live.pid))  # now it has exited


def _hold_and_die(path: str, held) -> None:
    LinkLock(path).acquire()
    held.set()
    time.sleep(3600)  # killed by the test


def test_a_holder_killed_with_sigkill_does_not_block_the_next(tmp_path):
    target = str(tmp_path / "f.lock")
    ctx = mp.get_context("spawn")
    held = ctx.Event()
    proc = ctx.Process(target=_hold_and_die, args=(target, held))
    proc.start()
    while not held.wait(0.05):
        assert proc.is_alive()
    proc.kill()
    proc.join()
    assert os.path.exists(target)
    LinkLock(target, ttl=3600.0)._break_if_stale()  # young: only the dead-holder check frees it
    assert not os.path.exists(target)
    with LinkLock(target):
        assert os.path.exists(target)
