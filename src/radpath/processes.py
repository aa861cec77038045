"""Which process is which, and worker processes that end with the process that started them.

`process_started(pid)` is the identity of a running process (Linux: boot id and start tick), so that a later
process given the same pid is never taken for an earlier one; `alive(pid, started)` uses it. The run table
records it (`radpath.warehouse.runs`), and every process pool radpath starts (`worker_pool`: the executor's,
the LASSO repeats', the synthetic study's) runs `end_with_parent` in its workers, so that a command killed
with SIGKILL does not leave its workers running: the kernel signals them when their parent dies
(Linux `prctl(PR_SET_PDEATHSIG)`), and a watchdog thread ends them when the process that started the run is
gone by any other road (another system, or a pool whose workers' parent is a fork server).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_SECONDS = 0.5


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_started(pid: int) -> str | None:
    """When process `pid` started, as the kernel says (Linux: boot id and start tick); None where it cannot be read
    (no such process, a zombie, another system). Two processes that had the same pid never have the same value."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": the name may hold spaces and parentheses
    if len(fields) < 20 or fields[0] == "Z":     # a zombie has ended; only its exit status is left
        return None
    return f"{_boot_id()}:{fields[19]}"


def alive(pid: int, started: str | None = None) -> bool:
    """True while process `pid` runs, and, when `started` is given, is the process that started then."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user has the pid: the start time decides
        pass
    if started is None:
        return process_started(pid) is not None or not Path("/proc").is_dir()
    return process_started(pid) == started


def _watch(pid: int, started: str | None) -> None:
    while alive(pid, started):
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def end_with_parent(parent_pid: int, parent_started: str | None) -> None:
    """Make this (worker) process end when the process `parent_pid` ends, even when that one is killed with SIGKILL.

    Pool initializer of the executor. On Linux the kernel sends SIGKILL when the direct parent dies; a daemon
    thread also polls `parent_pid` (the process that started the run, which may not be the direct parent) and
    ends this process when it is gone.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl here: the watchdog below still ends the worker
            pass
    if not alive(parent_pid, parent_started):  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid, parent_started), daemon=True,
                     name="radpath-parent-watch").start()


def worker_pool(max_workers: int, mp_context: BaseContext | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers end with this process (see `end_with_parent`); every pool radpath starts."""
    me = os.getpid()
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=mp_context, initializer=end_with_parent,
                               initargs=(me, process_started(me)))
