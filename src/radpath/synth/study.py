"""Write a whole synthetic study: truth table, every modality's files, one manifest per cohort."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

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


def generate_study(
    out: str | Path,
    *,
    seed: int = 1,
    n_train: int = 126,
    n_valid: int = 105,
    modalities: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Study:
    """Draw the truth and render every registered modality (or those named) under `out`."""
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
    for name in names:
        for cohort, section in RENDERERS[name](truth, out, seed).items():
            sections[cohort].update(section)
        progress.advance(True, name)
    progress.finish()
    manifests = {}
    for cohort in (TRAIN, VALID):
        path = out / cohort / "manifest.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(_manifest(cohort, sections[cohort]), sort_keys=False), encoding="utf-8")
        manifests[cohort] = path
    return Study(out, truth_path, manifests)
