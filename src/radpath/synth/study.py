"""Write a whole synthetic study: truth table, every modality's files, one manifest per cohort."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from radpath.errors import ConfigError
from radpath.progress import NullProgress, Progress
from radpath.synth.registry import RENDERERS
from radpath.synth.truth import TRAIN, VALID, draw_truth

TEMPLATES = {TRAIN: "tcga_brca.yaml", VALID: "ispy1.yaml"}
SOURCE_CRITERIA = ("mri", "slides", "expression", "mutations")


@dataclass(frozen=True)
class Study:
    out: Path
    truth_path: Path
    manifests: dict[str, Path]


def manifest_template(cohort: str) -> dict[str, Any]:
    """The shipped manifest of a cohort (`cohorts/<name>.yaml`) as a dict."""
    text = resources.files("radpath.cohorts").joinpath(TEMPLATES[cohort]).read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _manifest(cohort: str, sections: dict[str, Any]) -> dict[str, Any]:
    """The shipped manifest with root '.', the renderers' source sections, and inclusion criteria
    kept only for sources this study rendered."""
    data = manifest_template(cohort)
    data["root"] = "."
    data["description"] = f"synthetic {data.get('description', cohort)}"
    for key in SOURCE_CRITERIA:
        data.pop(key, None)
    data.update(sections)
    data["inclusion"] = [
        c for c in data.get("inclusion", [])
        if c.get("kind") != "source_present" or c.get("source") in data
    ]
    return data


def _render(
    names: list[str], truth: pd.DataFrame, out: Path, seed: int, jobs: int, progress: Progress
) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(name, manifest sections) of each renderer, in registry order whatever order they finish in."""
    if jobs <= 1 or len(names) == 1:
        done = []
        for name in names:
            done.append((name, RENDERERS[name](truth, out, seed)))
            progress.advance(True, name)
        return done
    import multiprocessing
    from concurrent.futures import as_completed

    from radpath.processes import worker_pool

    # spawn, not fork: a parent that has already run torch (a test session) would hang forked workers
    with worker_pool(jobs, multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(RENDERERS[name], truth, out, seed): name for name in names}
        results = {}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            progress.advance(True, futures[future])
    return [(name, results[name]) for name in names]


def generate_study(
    out: str | Path,
    *,
    seed: int = 1,
    n_train: int = 126,
    n_valid: int = 105,
    modalities: Sequence[str] | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
) -> Study:
    """Draw the truth and render every registered modality (or those named) under `out`; with `jobs` > 1 the
    renderers run side by side in that many processes (each draws from its own seed stream and writes its own
    files, so the study is the same either way)."""
    out = Path(out)
    names = list(modalities) if modalities else list(RENDERERS)
    unknown = [name for name in names if name not in RENDERERS]
    if unknown:
        raise ConfigError(f"unknown synthetic modalities {unknown}; known: {sorted(RENDERERS)}")
    if "tables" not in names:
        names.insert(0, "tables")
    out.mkdir(parents=True, exist_ok=True)
    truth = draw_truth(seed, n_train, n_valid)
    truth_path = out / "truth.csv"
    truth.to_csv(truth_path, index=False)
    sections: dict[str, dict[str, Any]] = {TRAIN: {}, VALID: {}}
    progress = progress or NullProgress()
    progress.start(len(names), "synthetic study")
    for _name, rendered in _render(names, truth, out, seed, jobs, progress):
        for cohort, section in rendered.items():
            sections[cohort].update(section)
    progress.finish()
    manifests = {}
    for cohort in (TRAIN, VALID):
        path = out / cohort / "manifest.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(_manifest(cohort, sections[cohort]), sort_keys=False), encoding="utf-8")
        manifests[cohort] = path
    return Study(out, truth_path, manifests)
