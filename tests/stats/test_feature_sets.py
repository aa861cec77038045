"""`--features` on associate and fit-signature: codes and named sets (issue 16 part 2)."""

from __future__ import annotations

import duckdb
import pytest
import typer
from tests.stats.conftest import SIGNAL
from typer.testing import CliRunner

from radpath.cli.app import build_app
from radpath.errors import StatsError
from radpath.stats.feature_sets import FEATURE_SETS, resolve_features
from radpath.stats.pipeline import run_associate, run_fit_signature


def test_paper_table1_is_the_mri_stage_registry_of_the_papers_17() -> None:
    from radpath.mri.features import PAPER_CODES

    assert FEATURE_SETS["paper_table1"] == PAPER_CODES
    assert len(PAPER_CODES) == 17


def test_resolve_mixes_codes_and_sets_in_order_once() -> None:
    codes = resolve_features(["TEX2,paper_table1", " CYT ", "M1"])
    assert codes[:2] == ["TEX2", "M1"]
    assert codes[-1] == "CYT" and len(codes) == 18 and len(set(codes)) == 18
    assert resolve_features([]) == []


def test_fit_signature_on_named_codes_only(stats_con: duckdb.DuckDBPyConnection) -> None:
    wanted = ["SIGNAL_1", "SIGNAL_2", "NOISE_01", "NOISE_02"]
    out = run_fit_signature(stats_con, "tcga_brca", folds=5, repeats=2, seed=1, features=[",".join(wanted)])
    sel = stats_con.execute("SELECT code, selected FROM signature_selection").df()
    assert sorted(sel["code"]) == sorted(wanted)
    chosen = set(sel.loc[sel["selected"], "code"])
    assert chosen and chosen <= {"SIGNAL_1", "SIGNAL_2"}  # the two carry the same latent; noise never enters
    params = stats_con.execute("SELECT params FROM runs WHERE run_id = ?", [out.run_id]).fetchone()
    assert params is not None and "NOISE_02" in params[0]


def test_associate_on_features_across_modalities(stats_con: duckdb.DuckDBPyConnection) -> None:
    run_associate(stats_con, "tcga_brca", target="til", features=["SIGNAL_3", "CYT"])
    stored = stats_con.execute("SELECT modality, code FROM feature_associations WHERE target = 'til' "
                               "ORDER BY code").df()
    assert stored.to_dict("list") == {"modality": ["genomics", "mri"], "code": ["CYT", "SIGNAL_3"]}


def test_missing_features_are_listed(stats_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(StatsError, match="cohort tcga_brca has no feature NOPE, ALSO_NOT in the warehouse"):
        run_fit_signature(stats_con, "tcga_brca", folds=5, repeats=1, features=["SIGNAL_1,NOPE", "ALSO_NOT"])
    with pytest.raises(StatsError, match=r"--features \(from paper_table1\): cohort tcga_brca has no feature "
                                         r"M1, M2, M3, M4, M5, TEX1"):
        run_associate(stats_con, "tcga_brca", features=["paper_table1"])
    # a --modality restricts where the codes are looked up
    with pytest.raises(StatsError, match="has no feature CYT"):
        run_associate(stats_con, "tcga_brca", features=[SIGNAL[0], "CYT"], modalities=["mri"])


def test_every_option_of_the_stats_commands_has_help() -> None:
    group = typer.main.get_command(build_app())
    for name in ("associate", "fit-signature", "fit-composite", "evaluate", "apply"):
        command = group.commands[name]  # type: ignore[attr-defined]
        bare = [p.name for p in command.params if p.name != "help" and not (getattr(p, "help", "") or "").strip()]
        assert not bare, f"{name}: options without help: {bare}"
    result = CliRunner().invoke(build_app(), ["fit-signature", "--help"], catch_exceptions=False)
    assert "paper_table1" in result.output
