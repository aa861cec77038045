"""Commands that fail on their input (issue 23 §5, §7): one clear line, exit status 2, and the warehouse file
byte-identical afterwards (22 of 72 bad inputs changed its bytes: every write-open re-created the manuscript
views, and some commands recorded a failed run before they looked at their input).

Each case runs the real command line on a private copy of a small warehouse (two ingested cohorts, a few
features, a model with predictions) and compares the file's sha256 before and after; the case list is the
red-team harness's bad inputs, by command.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radpath.cli.app import main
from radpath.ingest import ingest_manifest
from radpath.synth.study import Study
from radpath.warehouse import finish_run, open_warehouse, start_run, transaction, write_features


@pytest.fixture(scope="module")
def base(table_study: Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both cohorts ingested; MRI and genomics features for tcga_brca; a model 'sig' with predictions on both."""
    db = tmp_path_factory.mktemp("bad_inputs") / "w.duckdb"
    rng = np.random.default_rng(5)
    with open_warehouse(db) as con:
        for manifest in table_study.manifests.values():
            ingest_manifest(con, manifest)
        ids = {c: [r[0] for r in con.execute("SELECT patient_id FROM patients WHERE cohort = ? AND included",
                                             [c]).fetchall()] for c in ("tcga_brca", "ispy1")}
        run = start_run(con, "test: features and a model", {})
        with transaction(con):
            for modality, codes in (("mri", ["M1", "M2"]), ("genomics", ["CYT", "TMB"])):
                frame = pd.DataFrame([(p, c, float(rng.normal(5, 1))) for p in ids["tcga_brca"] for c in codes],
                                     columns=["patient_id", "code", "value"])
                write_features(con, run, "tcga_brca", modality, frame)
            artifact = {"features": [{"modality": "mri", "code": "M1"}], "coefficients": {"M1": 1.0},
                        "intercept": 0.0, "means": {"M1": 0.0}, "sds": {"M1": 1.0},
                        "thresholds": {"low_vs_intermediate": 10.0, "low_vs_high": 20.0,
                                       "intermediate_vs_high": 40.0}}
            con.execute("INSERT INTO models VALUES ('sig', 1, 'signature', 'tcga_brca', 'til', ?, 'h', now(), ?)",
                        [json.dumps(artifact), run.run_id])
            for cohort, patients in ids.items():
                rows = pd.DataFrame({"model": "sig", "version": 1, "cohort": cohort, "patient_id": patients,
                                     "predicted": rng.uniform(0, 60, len(patients)), "til_group": "low",
                                     "run_id": run.run_id})
                con.register("_rows", rows)
                con.execute("INSERT INTO model_predictions SELECT * FROM _rows")
                con.unregister("_rows")
        finish_run(con, run, "ok")
    return db


@pytest.fixture(scope="module")
def files(base: Path) -> dict[str, Path]:
    root = base.parent / "inputs"
    root.mkdir()
    (root / "broken.yaml").write_text("name: x\nclinical: [unclosed\n")
    (root / "no_name.yaml").write_text("clinical:\n- path: c.csv\n  id_column: id\n")
    (root / "missing_table.yaml").write_text("name: ghost\nclinical:\n- path: nowhere.csv\n  id_column: id\n"
                                             "  columns:\n    age: age\n")
    dup = root / "dup"
    dup.mkdir()
    (dup / "clinical.csv").write_text("patient_id,age\nP1,50\nP1,60\nP2,70\n")
    (dup / "manifest.yaml").write_text("name: dup\nclinical:\n- path: clinical.csv\n  id_column: patient_id\n"
                                       "  columns:\n    age: age\n")
    (root / "notes.txt").write_text("not a model\n")
    (root / "params.yaml").write_text("bins: [not, a, number]\nbogus_key: 1\n")
    (root / "empty").mkdir()
    return {p.stem if p.is_file() else p.name: p for p in root.iterdir()} | {"dup_manifest": dup / "manifest.yaml"}


NOT_A_MODEL = "notes.txt: not a safetensors or torch weights file"  # was: 'refused, loading it would run code'


def _cases(f: dict[str, Path]) -> list[tuple[list[str], str]]:
    """(arguments, words the one-line error must hold)."""
    return [
        (["ingest", str(f["broken"])], "broken.yaml"),
        (["ingest", str(f["no_name"])], "no_name.yaml"),
        (["ingest", str(f["missing_table"])], "nowhere.csv"),
        (["ingest", str(f["dup_manifest"])], "different values in column 'age': 50 vs 60"),
        (["extract-mri", str(f["broken"])], "broken.yaml"),
        (["extract-mri", str(f["dup_manifest"]), "--params", str(f["params"])], "params.yaml"),
        (["score-wsi", str(f["broken"]), "--tumor-model", str(f["notes"]), "--til-model", str(f["notes"])],
         NOT_A_MODEL),
        (["segment-wsi", str(f["broken"]), "--model", str(f["notes"])], NOT_A_MODEL),
        (["detect-cells", str(f["empty"]), "--model", str(f["notes"])], NOT_A_MODEL),
        (["import-til-maps", str(f["empty"]), "--cohort", "tcga_brca"], "no .png"),
        (["import-til-maps", str(f["empty"]), "--cohort", "tcga_brca", "--format", "bogus"], "unknown map format"),
        (["cytolytic", str(f["broken"])], "broken.yaml"),
        (["associate", "--cohort", "bogus"], "unknown cohort 'bogus'"),
        (["associate", "--cohort", "tcga_brca", "--target", "bogus"], "--target bogus: cohort tcga_brca has no "
         "feature bogus; give til, cyt, tmb or a feature code of the cohort (features it has: CYT (genomics), "
         "TMB (genomics), M1 (mri), M2 (mri))"),
        (["associate", "--cohort", "tcga_brca", "--alpha", "2"], "--alpha must be above 0 and at most 1, got 2"),
        (["associate", "--cohort", "tcga_brca", "--fdr", "0"], "--fdr must be above 0 and at most 1, got 0"),
        (["associate", "--cohort", "tcga_brca", "--features", "NOPE"], "NOPE"),
        (["associate", "--cohort", "ispy1"], "cohort ispy1 has no TIL readings"),
        (["fit-signature", "--cohort", "bogus"], "unknown cohort"),
        (["fit-signature", "--cohort", "tcga_brca", "--target", "cyt"], "--target cyt is not supported"),
        (["fit-signature", "--cohort", "tcga_brca", "--modality", "pathology"], "no features of modality pathology"),
        (["fit-signature", "--cohort", "tcga_brca", "--folds", "100"],
         "too few patients for 100-fold LASSO on tcga_brca: 44 with a TIL reading and every feature (needs at "
         "least 100)"),
        (["fit-composite", "--cohort", "tcga_brca", "--signature", "nope"], "nope"),
        (["fit-composite", "--cohort", "tcga_brca", "--signature", "sig", "--with", "bogus"],
         "--with bogus: cohort tcga_brca has no genomics feature bogus; molecular terms are cyt, tmb or a genomics "
         "feature code of the cohort (radpath cytolytic writes CYT; features it has: CYT (genomics), TMB (genomics))"),
        (["fit-composite", "--cohort", "tcga_brca", "--signature", "sig", "--adjust", "bogus"],
         "--adjust bogus: unknown adjustment; known: stage, er, pr, her2, tnbc, cyt, tmb"),
        (["fit-composite", "--cohort", "tcga_brca", "--signature", "sig", "--with", "tmb", "--adjust", "tmb"],
         "--adjust tmb: TMB is already a term of the model"),
        (["fit-composite", "--cohort", "tcga_brca", "--signature", "sig", "--with", "cyt", "--with", "CYT"],
         "a term is named twice"),
        (["fit-composite", "--cohort", "bogus", "--signature", "sig"], "unknown cohort"),
        (["apply", "--model", "nope", "--cohort", "ispy1"], "nope"),
        (["apply", "--model", "published:nope", "--cohort", "ispy1"], "nope"),
        (["apply", "--model", "sig", "--cohort", "bogus"], "bogus"),
        (["apply", "--model", "sig", "--cohort", "ispy1"], "model sig v1 needs feature M1 (mri), which cohort ispy1 "
                                                            "does not have"),
        (["evaluate", "--cohort", "tcga_brca", "--model", "nope"], "nope"),
        (["evaluate", "--cohort", "bogus", "--model", "sig"], "unknown cohort"),
        (["evaluate", "--cohort", "ispy1", "--model", "sig"], "cohort ispy1 has no TIL readings"),
        (["evaluate", "--cohort", "tcga_brca", "--model", "sig", "--compare", "sig"],
         "--compare sig: model sig is evaluated already (--model)"),
        (["validate-survival", "--cohort", "ispy1", "--model", "nope", "--no-figures"], "nope"),
        (["validate-survival", "--cohort", "ispy1", "--model", "sig", "--endpoint", "dfs", "--no-figures"],
         "cohort 'ispy1' has no endpoint 'dfs'; its endpoints: os, rfs"),
        (["validate-survival", "--cohort", "tcga_brca", "--model", "sig", "--no-figures"],
         "cohort 'tcga_brca' has no outcomes"),
        (["validate-survival", "--cohort", "ispy1", "--model", "sig", "--groups", "5", "--no-figures"], "groups"),
        (["validate-survival", "--cohort", "ispy1", "--model", "sig", "--figures", "/proc/radpath-bad-inputs"],
         "--figures '/proc/radpath-bad-inputs': cannot create folder (No such file or directory)"),
        (["mri", "reduce", str(f["broken"])], "broken.yaml"),
        (["cohort", "remove", "bogus", "--yes"], "unknown cohort"),
        (["cohort", "show", "bogus"], "unknown cohort"),
        (["sql", "DROP TABLE patient_registry"], "refused"),
        (["sql", "COPY patients TO 'out.csv'"], "refused: COPY statement"),
        (["sql", "ATTACH 'other.duckdb' AS other"], "refused: ATTACH statement"),
        (["sql", "EXPORT DATABASE 'dump'"], "refused: EXPORT statement"),
        (["sql", "SELECT * FROM read_csv('/etc/passwd')"], "file system operations are disabled"),
        (["sql", "SELECT * FROM nowhere"], "nowhere"),
        (["sql", ""], "empty query"),
        (["sql", "SELECT " + " + ".join(["1"] * 1200)], "nests more than 1000 expressions deep"),
        (["sql", b"SELECT '\xff'".decode("utf-8", "surrogateescape")], "not valid UTF-8 text: byte 0xff"),
        (["sql", "SELECT list(x) FROM range(50000000) t(x)", "--memory-limit", "20MB"], "query ran out of memory"),
        (["sql", "SELECT count(*) FROM range(1000000000000)", "--timeout", "0.2"], "stopped after --timeout 0.2 s"),
        (["sql", "SELECT 1", "--memory-limit", "lots"], "--memory-limit lots: not a memory size"),
        (["sql", "SELECT 1", "--memory-limit", "1KB"], "--memory-limit 1KB is too small to open the warehouse"),
        (["sql", "SELECT 1 AS x", "--csv", "{db}"], "radpath never writes over one"),
        (["sql", "SELECT 1 AS x", "--parquet", "{db}.wal"], "w.duckdb.wal"),
        (["query", "bogus"], "no query named 'bogus'"),
        (["query", "failures", "--parquet", "{db}"], "radpath never writes over one"),
        (["apply", "--model", "sig", "--cohort", "ispy1", "--csv", "{db}"], "radpath never writes over one"),
        (["tables", "--out", "/proc/radpath-bad-inputs"],
         "--out '/proc/radpath-bad-inputs': cannot create folder (No such file or directory)"),
        (["figures", "--out", "/proc/radpath-bad-inputs"],
         "--out '/proc/radpath-bad-inputs': cannot create folder (No such file or directory)"),
        (["report", "--out", "/proc/radpath-bad-inputs"],
         "--out '/proc/radpath-bad-inputs/tables': cannot create folder (No such file or directory)"),
        (["report", "--out", str(f["notes"])], "notes"),
    ]


CASE_COUNT = 66


def test_the_case_list_is_complete(files: dict[str, Path]) -> None:
    assert len(_cases(files)) == CASE_COUNT


@pytest.mark.parametrize("index", range(CASE_COUNT))
def test_bad_input_is_one_line_and_changes_no_byte(
    index: int, base: Path, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "w.duckdb"
    args, words = _cases(files)[index]
    args = [a.replace("{db}", str(db)) for a in args]
    shutil.copy(base, db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    assert exit_info.value.code == 2, err
    assert err.startswith("error: ") and "\n" not in err, err
    assert words in err, err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, f"{args} changed the warehouse file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"], "a companion file was left"
