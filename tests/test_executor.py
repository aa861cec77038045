"""The shared executor: inline, process pool and Dask LocalCluster give the same results."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from radpath.executor import run_cases

CASES = [("a", 4.0), ("b", -1.0), ("c", 9.0), ("d", 16.0)]


class Counting:
    def __init__(self) -> None:
        self.total = 0
        self.ok: list[bool] = []
        self.finished = False

    def start(self, total: int, description: str) -> None:
        self.total = total

    def advance(self, ok: bool = True, note: str | None = None) -> None:
        self.ok.append(ok)

    def finish(self) -> None:
        self.finished = True


def _check(results, progress: Counting) -> None:
    by_case = {r.case_id: r for r in results}
    assert {k: r.value for k, r in by_case.items() if r.ok} == {"a": 2.0, "c": 3.0, "d": 4.0}
    assert not by_case["b"].ok
    assert by_case["b"].error.startswith("case b: ValueError: math domain error")
    assert progress.total == 4 and sorted(progress.ok) == [False, True, True, True] and progress.finished


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_execution(jobs: int) -> None:
    progress = Counting()
    _check(list(run_cases(math.sqrt, CASES, jobs=jobs, progress=progress)), progress)


def test_dask_local_cluster() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        progress = Counting()
        _check(list(run_cases(math.sqrt, CASES, scheduler=cluster.scheduler_address, progress=progress)), progress)


def test_unreachable_scheduler_is_a_clear_error() -> None:
    from radpath.errors import RadpathError

    with pytest.raises(RadpathError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        list(run_cases(math.sqrt, CASES, scheduler="tcp://127.0.0.1:1", connect_timeout=1))


def _die_on_b(value: float) -> float:
    import os
    import signal

    if value < 0:
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies as under the OOM killer
    return math.sqrt(value)


def test_a_killed_pool_process_fails_cases_instead_of_the_run() -> None:
    results = list(run_cases(_die_on_b, CASES, jobs=2))
    by_case = {r.case_id: r for r in results}
    assert sorted(by_case) == ["a", "b", "c", "d"] and len(results) == 4  # every case answered, once
    assert not by_case["b"].ok
    assert by_case["b"].error.startswith("case b: the worker process running it was lost (BrokenProcessPool")
    for case, result in by_case.items():  # the others either finished or were lost with the pool
        assert result.ok or "was lost" in (result.error or ""), case


TORCH_PARENT = """
def main():
    import torch
    torch.set_num_threads(2)
    x = torch.randn(256, 256)
    float((x @ x).sum())                     # the intra-op thread pool has now run in the parent
    from radpath.executor import pool_context, run_cases
    from torch_worker import work
    results = list(run_cases(work, [(str(i), i) for i in range(4)], jobs=2))
    print(pool_context().get_start_method(), sorted(r.value for r in results if r.ok))
if __name__ == "__main__":
    main()
"""

TORCH_WORKER = """
import torch
def work(n):
    x = torch.ones(64, 64)
    return int((x @ x)[0, 0].item()) + n
"""


def test_a_parent_that_ran_torch_still_gets_working_pool_processes(tmp_path: Path) -> None:
    """Forked after torch's thread pool ran, a worker waited forever on an inherited lock (the run hung)."""
    (tmp_path / "torch_worker.py").write_text(TORCH_WORKER, encoding="utf-8")
    script = tmp_path / "parent.py"
    script.write_text(TORCH_PARENT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["forkserver", "[64,", "65,", "66,", "67]"]


ORPHAN_WORKER = """
import os, time
from pathlib import Path

def work(folder):
    (Path(folder) / str(os.getpid())).touch()
    time.sleep(600)
"""
ORPHAN_SCRIPT = """
import sys
if sys.argv[2] == "torch":
    import torch  # noqa: F401  (the pool then starts its workers from a fork server)
from radpath.executor import pool_context, run_cases
from orphan_worker import work

if __name__ == "__main__":
    print(pool_context().get_start_method(), flush=True)
    for _ in run_cases(work, [("a", sys.argv[1]), ("b", sys.argv[1])], jobs=2):
        pass
"""


@pytest.mark.parametrize("start", ["fork", "torch"])
def test_pool_workers_end_when_the_run_is_killed(tmp_path: Path, start: str) -> None:
    """SIGKILL of a stage run with --jobs 2 left its pool workers running (issue 23 §5); now they end with it,
    whether forked from it or from a fork server (once torch is loaded)."""
    import signal
    import time

    from radpath.processes import alive, process_started

    script = tmp_path / "run.py"
    script.write_text(ORPHAN_SCRIPT)
    (tmp_path / "orphan_worker.py").write_text(ORPHAN_WORKER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), start], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    method = proc.stdout.readline().strip()
    assert method == ("forkserver" if start == "torch" else "fork")
    deadline = time.monotonic() + 120
    while (len([p for p in tmp_path.iterdir() if p.name.isdigit()]) < 2 and time.monotonic() < deadline
           and proc.poll() is None):
        time.sleep(0.05)
    workers = {int(p.name): process_started(int(p.name)) for p in tmp_path.iterdir() if p.name.isdigit()}
    assert len(workers) == 2 and all(workers.values()), "the workers did not start"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(alive(pid, started) for pid, started in workers.items()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid, started) for pid, started in workers.items()), "a pool worker outlived its run"


def test_every_process_pool_is_a_worker_pool() -> None:
    """The LASSO repeats and the synthetic study ran their own pools, whose workers outlived a killed command:
    every pool is made by radpath.processes.worker_pool now, so that its workers end with their parent."""
    import radpath

    root = Path(radpath.__file__).parent
    makers = sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                    if "ProcessPoolExecutor(" in path.read_text(encoding="utf-8")
                    or "multiprocessing.Pool(" in path.read_text(encoding="utf-8"))
    assert makers == ["processes.py"]
