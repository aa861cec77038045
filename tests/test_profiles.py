"""The shipped cluster profile (profiles/slurm.yaml) loads as Dask configuration with dask-jobqueue's keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "slurm.yaml"
# SLURMCluster's configuration keys (dask-jobqueue's jobqueue.yaml, section slurm)
SLURM_KEYS = {
    "name", "cores", "memory", "processes", "python", "interface", "death-timeout", "local-directory",
    "shared-temp-directory", "extra", "worker-command", "worker-extra-args", "shebang", "queue", "account",
    "walltime", "env-extra", "job-script-prologue", "job-cpu", "job-mem", "job-extra", "job-extra-directives",
    "job-directives-skip", "log-directory", "scheduler-options", "nanny",
}


def test_slurm_profile_is_dask_config_with_jobqueue_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    import dask.config
    from dask.utils import parse_bytes

    raw = yaml.safe_load(PROFILE.read_text())
    section = raw["jobqueue"]["slurm"]
    assert set(section) <= SLURM_KEYS, sorted(set(section) - SLURM_KEYS)
    assert section["cores"] % section["processes"] == 0            # whole cores per worker process
    assert parse_bytes(section["memory"]) >= 4 * 2**30
    hours, minutes, seconds = (int(v) for v in section["walltime"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds > 0
    monkeypatch.setenv("TMPDIR", "/scratch/job")
    collected = dask.config.collect(paths=[str(PROFILE.parent)], env={})
    loaded = dask.config.expand_environment_variables(collected)["jobqueue"]["slurm"]
    assert loaded["local-directory"] == "/scratch/job" and loaded["cores"] == section["cores"]


def test_slurm_profile_writes_a_job_script() -> None:
    jobqueue = pytest.importorskip("dask_jobqueue")  # the optional extra radpath[slurm]
    import dask.config

    config = yaml.safe_load(PROFILE.read_text())
    with dask.config.set(config), jobqueue.SLURMCluster(config_name="slurm", interface=None) as cluster:
        script = cluster.job_script()
    assert "#SBATCH -t 04:00:00" in script and "--nthreads 1" in script and "--nworkers 4" in script
