"""`radpath models list` reads the models runs recorded: the "models" parameter of new runs and the
"model_hashes" + tumor_model / til_model parameters of runs written before it existed."""

from __future__ import annotations

from pathlib import Path

from radpath.warehouse import finish_run, open_warehouse, start_run
from radpath.warehouse.inventory import COLUMNS, models_used


def test_models_used_groups_runs_by_role_path_and_hash(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "w.duckdb") as con:
        assert models_used(con).empty and list(models_used(con).columns) == COLUMNS
        legacy = start_run(con, "score-wsi", {"tumor_model": "/m/t.safetensors", "til_model": "/m/l.safetensors",
                                              "model_hashes": {"tumor": "aa", "lymphocyte": "bb"}})
        finish_run(con, legacy, "ok")
        zoo = {"tumor": {"path": "/zoo/tumor", "hash": "cc", "format": "wsinfer-zoo", "arch": "resnet34",
                         "positive_class": "tumor"},
               "lymphocyte": {"path": "/m/l.safetensors", "hash": "bb", "format": "radpath-patch-classifier",
                              "arch": "resnet18", "positive_class": "positive"}}
        for _ in range(2):
            finish_run(con, start_run(con, "score-wsi", {"models": zoo}), "ok")
        start_run(con, "extract-mri", {"jobs": 1})   # a run without models adds nothing
        frame = models_used(con)
    rows = {(r.role, r.path, r.hash): r for r in frame.itertuples()}
    assert sorted(rows) == [("lymphocyte", "/m/l.safetensors", "bb"), ("tumor", "/m/t.safetensors", "aa"),
                            ("tumor", "/zoo/tumor", "cc")]
    assert rows[("lymphocyte", "/m/l.safetensors", "bb")].runs == 3
    assert rows[("lymphocyte", "/m/l.safetensors", "bb")].arch == "resnet18"
    assert rows[("tumor", "/zoo/tumor", "cc")].runs == 2 and rows[("tumor", "/zoo/tumor", "cc")].format == "wsinfer-zoo"
    legacy_row = rows[("tumor", "/m/t.safetensors", "aa")]
    assert legacy_row.runs == 1 and legacy_row.commands == "score-wsi"
