"""The viewer beside a running stage (#23 §3): it never keeps the warehouse open, stages write while it serves,
and it shows their results after they finish, never a half-written state."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pandas as pd
import pytest

from radpath.ingest import ingest_manifest
from radpath.synth.study import generate_study
from radpath.synth.truth import TRAIN, VALID
from radpath.viewer.app import ViewerConfig, create_app
from radpath.warehouse import open_warehouse

from .conftest import ViewerStudy, build_warehouse, viewer_client

HOLD = ("import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
        "con.execute(\"INSERT INTO cohort_registry VALUES ('late', 'validation', NULL, 'm', 'h', 'r')\"); "
        "print('ready', flush=True); sys.stdin.read(); con.close()")


def _cohorts(text: str) -> dict[str, tuple[int, int]]:
    """cohort -> (patients, included) as the index page lists them."""
    rows = re.findall(r'<td data-sort="([^"]+)"><a href="/cohorts/[^"]+">.*?data-sort="(\d+)">\d+</td>'
                      r'<td data-sort="(\d+)">', re.sub(r"\s+", " ", text))
    return {name: (int(n), int(k)) for name, n, k in rows}


def test_a_writer_in_another_process_is_seen_when_it_closes(tmp_path: Path) -> None:
    own = build_warehouse(tmp_path / "own")
    app = create_app(ViewerConfig(db=own.db, work_dir=tmp_path / "work", check_every=0.0))
    with viewer_client(app) as client:
        assert "late" not in _cohorts(client.get("/").text)
        writer = subprocess.Popen([sys.executable, "-c", HOLD, str(own.db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
            # the writer committed a row and holds the warehouse open: the viewer serves its snapshot meanwhile
            for _ in range(3):
                page = client.get("/")
                assert page.status_code == 200 and "late" not in _cohorts(page.text)
        finally:
            writer.communicate("", timeout=60)
        assert writer.returncode == 0
        assert "late" in _cohorts(client.get("/").text)          # closed: the next request shows it


def test_the_viewer_keeps_no_lock_a_writer_would_meet(study: ViewerStudy, tmp_path: Path) -> None:
    """While the viewer serves, another process opens the warehouse for writing at once."""
    app = create_app(ViewerConfig(db=study.db, work_dir=tmp_path))
    with viewer_client(app) as client:
        assert client.get("/patients/P-001").status_code == 200
        code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
                "con.execute('CREATE TEMP TABLE t AS SELECT 1'); con.close()")
        result = subprocess.run([sys.executable, "-c", code, str(study.db)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr


def test_a_snapshot_of_a_file_a_killed_writer_left_with_its_wal(tmp_path: Path) -> None:
    """A writer killed before its checkpoint leaves committed rows in the .wal: the snapshot holds them."""
    own = build_warehouse(tmp_path / "own")
    code = ("import duckdb, os, sys; con = duckdb.connect(sys.argv[1]); "
            "con.execute('PRAGMA disable_checkpoint_on_shutdown'); "
            "con.execute(\"INSERT INTO cohort_registry VALUES ('walled', 'validation', NULL, 'm', 'h', 'r')\"); "
            "os._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(own.db)], check=True, timeout=120)
    assert own.db.with_name(own.db.name + ".wal").is_file()
    with viewer_client(create_app(ViewerConfig(db=own.db, work_dir=tmp_path / "work"))) as client:
        assert "walled" in _cohorts(client.get("/").text)


@pytest.fixture(scope="module")
def tables_study(tmp_path_factory: pytest.TempPathFactory):   # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("tables_study")
    return generate_study(out, seed=11, n_train=20, n_valid=15, modalities=["tables"])


def test_a_stage_runs_while_the_viewer_serves(tables_study, tmp_path: Path) -> None:   # type: ignore[no-untyped-def]
    """`radpath serve` and `radpath ingest` in processes of their own: the stage succeeds while the viewer
    answers every request, and the viewer shows the new cohort, complete, within seconds of the stage's end;
    no page ever shows the cohort partly written."""
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        ingest_manifest(con, tables_study.manifests[TRAIN])
    truth = pd.read_csv(tables_study.truth_path)
    n_valid = int((truth["cohort"] == VALID).sum())
    serve = subprocess.Popen([sys.executable, "-m", "radpath.cli.app", "serve", "--db", str(db), "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[tuple[int, dict[str, tuple[int, int]]]] = []
    stop = threading.Event()
    try:
        assert serve.stdout is not None
        url = serve.stdout.readline().split(": ", 1)[1].split()[0].rstrip("/")

        def poll() -> None:
            with httpx.Client(base_url=url, headers={"Host": "localhost"}, timeout=60) as client:
                while not stop.is_set():
                    try:
                        page = client.get("/")
                        seen.append((page.status_code, _cohorts(page.text)))
                    except httpx.TransportError:
                        seen.append((-1, {}))
                    time.sleep(0.02)

        for _ in range(100):
            try:
                httpx.get(url + "/healthz", headers={"Host": "localhost"}, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        poller = threading.Thread(target=poll)
        poller.start()
        stage = subprocess.run([sys.executable, "-m", "radpath.cli.app", "ingest",
                                str(tables_study.manifests[VALID]), "--db", str(db)],
                               capture_output=True, text=True, timeout=300)
        finished = time.monotonic()
        assert stage.returncode == 0, stage.stderr
        while time.monotonic() < finished + 30 and not (seen and VALID in seen[-1][1]):
            time.sleep(0.05)
        shown_after = time.monotonic() - finished
        stop.set()
        poller.join(60)
    finally:
        stop.set()
        serve.terminate()
        serve.wait(10)
    assert seen and all(status == 200 for status, _ in seen)
    assert VALID in seen[-1][1] and seen[-1][1][VALID][0] == n_valid
    assert shown_after < 30
    partial = [cohorts[VALID] for _, cohorts in seen if VALID in cohorts and cohorts[VALID][0] != n_valid]
    assert partial == []                                       # never a half-written cohort
    with duckdb.connect(str(db), read_only=True) as con:       # and the stage wrote everything
        assert con.execute("SELECT count(*) FROM patients WHERE cohort = ?", [VALID]).fetchone()[0] == n_valid
