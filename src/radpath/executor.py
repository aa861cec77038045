"""The one executor for per-case work (patients, slides), shared by every stage.

`run_cases` maps a picklable worker over cases on a local process pool (`jobs`), inline when
jobs == 1, or on a Dask distributed cluster when a scheduler address is given. Results are yielded
to the coordinating process as they complete, which alone writes to the warehouse (DuckDB has
one writer). A worker exception never stops the run: it becomes a failed `CaseResult` whose
message names the case (and the file, when the worker raised a `CaseError` that knows it). Neither does the
loss of a worker: a task that a dying Dask worker took down (`KilledWorker`, once the scheduler's
``allowed-failures`` retries are spent) or a process pool broken by a killed process becomes a failed result of
its case, to be re-run with ``--retry-failed``.

Pool workers end with the process that started them (`radpath.processes.worker_pool`): a stage killed
with SIGKILL leaves no worker computing, and holding memory, for a run nobody will write.

The local pool forks its workers (cheap: the parent's imports are shared) unless the parent has already
imported torch: a process forked after torch's intra-op thread pool has run waits forever on a lock it
inherited, so then the workers start from a clean interpreter (``forkserver``) and import what the
worker needs themselves.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import Any

from radpath.errors import CaseError, RadpathError
from radpath.processes import worker_pool
from radpath.progress import NullProgress, Progress


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    ok: bool
    value: Any = None
    error: str | None = None
    file: str | None = None
    seconds: float = 0.0


def _call(worker: Callable[[Any], Any], case_id: str, payload: Any) -> CaseResult:
    """Run one case, turning any exception into a failed result (runs inside the worker process)."""
    start = time.perf_counter()
    try:
        value = worker(payload)
    except CaseError as exc:
        return CaseResult(case_id, False, error=str(exc), file=exc.file, seconds=time.perf_counter() - start)
    except RadpathError as exc:
        return CaseResult(case_id, False, error=f"case {case_id}: {exc}", seconds=time.perf_counter() - start)
    except Exception as exc:  # a bug or an unexpected input: keep the type and the last frame
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {where.filename}:{where.lineno})" if where else ""
        return CaseResult(
            case_id, False, error=f"case {case_id}: {type(exc).__name__}: {exc}{at}",
            seconds=time.perf_counter() - start,
        )
    return CaseResult(case_id, True, value=value, seconds=time.perf_counter() - start)


def run_cases(
    worker: Callable[[Any], Any],
    cases: Sequence[tuple[str, Any]],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    description: str = "cases",
    connect_timeout: float = 20.0,
) -> Iterator[CaseResult]:
    """Yield one CaseResult per case, in completion order.

    `worker` must be a module-level function (it is pickled to the processes or the cluster).
    """
    progress = progress or NullProgress()
    progress.start(len(cases), description)
    try:
        if scheduler:
            yield from _run_dask(worker, cases, scheduler, progress, connect_timeout)
        elif jobs <= 1 or len(cases) <= 1:
            for case_id, payload in cases:
                result = _call(worker, case_id, payload)
                progress.advance(result.ok, case_id)
                yield result
        else:
            with worker_pool(jobs, pool_context()) as pool:
                futures = {pool.submit(_call, worker, case_id, payload): case_id for case_id, payload in cases}
                for future in as_completed(futures):
                    result = _collect(future, futures[future], "worker process")
                    progress.advance(result.ok, result.case_id)
                    yield result
    finally:
        progress.finish()


def pool_context() -> multiprocessing.context.BaseContext:
    """How the local pool starts its workers: fork, or forkserver once torch is loaded in this process."""
    methods = multiprocessing.get_all_start_methods()
    if "torch" in sys.modules and "forkserver" in methods:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("fork" if "fork" in methods else methods[0])


def _run_dask(
    worker: Callable[[Any], Any], cases: Sequence[tuple[str, Any]], scheduler: str, progress: Progress,
    connect_timeout: float,
) -> Iterator[CaseResult]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout=f"{connect_timeout}s")
    except OSError as exc:
        raise RadpathError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    try:
        futures = {
            client.submit(_call, worker, case_id, payload, key=f"radpath-{case_id}-{i}", pure=False): case_id
            for i, (case_id, payload) in enumerate(cases)
        }
        for future in dask_completed(list(futures)):
            result = _collect(future, futures[future], "Dask worker")
            progress.advance(result.ok, result.case_id)
            yield result
    finally:
        client.close()


def _collect(future: Any, case_id: str, where: str) -> CaseResult:
    """The future's CaseResult, or a failed one when the process running the case died (SIGKILL, OOM)."""
    try:
        result: CaseResult = future.result()
    except Exception as exc:  # KilledWorker, BrokenProcessPool, a lost connection: the case did not finish
        return CaseResult(case_id, False, error=f"case {case_id}: the {where} running it was lost "
                                                f"({type(exc).__name__}: {exc}); re-run with --retry-failed")
    return result
