"""A real Dask cluster on loopback: `dask scheduler` and two `dask worker` processes, one SIGKILLed mid-run.

The MRI stage runs through `scheduler=` (what `--scheduler` passes). The scheduler is started with
``allowed-failures = 0`` so that the case the killed worker was running is not silently retried elsewhere but
reaches the client as `KilledWorker`: the run must record it as a failed case (not crash), write every other
case exactly once, and a `--retry-failed` re-run on the surviving worker must complete the cohort.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from radpath.ingest import ingest_manifest
from radpath.mri.extract import extract_mri
from radpath.mri.params import MRIParams
from radpath.synth.study import Study, generate_study
from radpath.synth.truth import TRAIN
from radpath.warehouse import open_warehouse

pytestmark = pytest.mark.slow
DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return generate_study(tmp_path_factory.mktemp("dask_study"), seed=5, n_train=10, n_valid=10,
                          modalities=["mri"])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, subprocess.Popen[bytes]]]]:
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, args: list[str]) -> None:
        with open(logs / f"{name}.log", "wb") as log:
            procs[name] = subprocess.Popen([DASK, *args], env=env, stdout=log, stderr=subprocess.STDOUT)

    try:
        spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
        for name in ("w1", "w2"):
            spawn(name, ["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                         "--name", name, "--no-dashboard"])
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _kill_when_busy(address: str, name: str, done: threading.Event, killed: dict[str, object]) -> None:
    """SIGKILL worker `name` (its pid from the scheduler) as soon as it is running a case."""
    from distributed import Client

    with Client(address, timeout="60s") as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        addr = next(a for a, w in workers.items() if w.get("name") == name)
        pid = client.run(os.getpid, workers=[addr])[addr]
        while not done.is_set():
            busy = client.processing([addr]).get(addr) or []
            if busy:
                os.kill(int(pid), signal.SIGKILL)
                killed.update(pid=pid, keys=list(busy))
                return
            time.sleep(0.05)


def test_sigkilled_worker_fails_its_case_only_and_a_retry_completes(
    study: Study, cluster: tuple[str, dict[str, subprocess.Popen[bytes]]], tmp_path: Path,
) -> None:
    address, procs = cluster
    params = MRIParams(extended=False)
    manifest = study.manifests[TRAIN]
    with open_warehouse(tmp_path / "w.duckdb") as con:
        ingest_manifest(con, manifest)
        done, killed = threading.Event(), {}
        killer = threading.Thread(target=_kill_when_busy, args=(address, "w1", done, killed), daemon=True)
        killer.start()
        try:
            first = extract_mri(con, manifest, params=params, scheduler=address)
        finally:
            done.set()
            killer.join(timeout=30)
        assert killed, "the worker was never seen running a case"
        assert procs["w1"].wait(timeout=10) == -signal.SIGKILL
        cases = set(first.done) | set(first.failed)
        assert not set(first.done) & set(first.failed) and len(cases) == len(first.done) + len(first.failed)
        assert first.failed, "allowed-failures = 0: the killed worker's case must fail"
        for case, error in first.failed.items():
            assert error.startswith(f"case {case}: the Dask worker running it was lost (KilledWorker")
        run1 = first.run.run_id
        written = dict(con.execute(
            "SELECT patient_id, count(*) FROM feature_values WHERE run_id = ? AND code = 'M1' GROUP BY 1",
            [run1]).fetchall())
        assert written == {case: 1 for case in first.done}  # every finished case exactly once, failed ones never
        recorded = {r[0] for r in con.execute("SELECT case_id FROM case_failures WHERE run_id = ?", [run1]).fetchall()}
        assert recorded == set(first.failed)
        assert con.execute("SELECT status FROM runs WHERE run_id = ?", [run1]).fetchone() == ("partial",)

        second = extract_mri(con, manifest, params=params, scheduler=address, retry_failed=True)
        assert set(second.done) == set(first.failed) and not second.failed
        status = dict(con.execute("SELECT case_id, status FROM case_status WHERE stage = 'extract-mri'").fetchall())
        assert status == {case: "ok" for case in cases}
        per_case = dict(con.execute("SELECT patient_id, count(*) FROM features WHERE modality = 'mri' "
                                    "AND code = 'M1' GROUP BY 1").fetchall())
        assert per_case == {case: 1 for case in cases}
