"""Which slides a pathology run covers: a cohort manifest's slides of included patients, or slide files.

Shared by every slide analysis (`score-wsi`, `segment-wsi`, `detect-cells`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from radpath.errors import ConfigError


def grouped_slide_cases(
    con: duckdb.DuckDBPyConnection, targets: list[str], mpp: float | None = None
) -> dict[tuple[str, float | None], list[tuple[str, str]]]:
    """The slides of every target (manifest or slide file) grouped by (cohort, manifest mpp): one run each."""
    groups: dict[tuple[str, float | None], list[tuple[str, str]]] = {}
    for target in targets:
        cohort, cases, group_mpp = slide_cases(con, target, mpp)
        groups.setdefault((cohort, group_mpp), []).extend(cases)
    return groups


def slide_cases(con: duckdb.DuckDBPyConnection, target: str, mpp: float | None = None
                ) -> tuple[str, list[tuple[str, str]], float | None]:
    """(cohort, [(patient_id, slide path)], manifest mpp) from a manifest, or ('slides', [(stem, path)])."""
    path = Path(target)
    if path.suffix.lower() in {".yaml", ".yml"}:
        from radpath.cohort import load_manifest

        loaded = load_manifest(path)
        spec = loaded.manifest.slides
        if spec is None:
            raise ConfigError(f"manifest {path}: has no slides section")
        rows = con.execute(
            "SELECT patient_id FROM patients WHERE cohort = ? AND included ORDER BY patient_id", [loaded.name]
        ).fetchall()
        if not rows:
            raise ConfigError(f"no included patients of cohort {loaded.name!r} in the warehouse; run radpath ingest")
        root = loaded.resolve(spec.root)
        cases = []
        for (pid,) in rows:
            found = sorted(root.glob(spec.pattern.format(patient_id=pid)))
            if found:
                cases.append((pid, str(found[0])))
        return loaded.name, cases, mpp if mpp is not None else spec.mpp
    return "slides", [(path.stem, str(path))], mpp


def annotation_files(con: duckdb.DuckDBPyConnection, targets: list[str]) -> dict[str, str]:
    """{slide path: QuPath GeoJSON of the slide's regions of interest} for manifests whose slides
    section names `annotations` (a glob below its root, e.g. "{patient_id}*.geojson"). A patient without a
    matching file maps to the pattern itself, so the analysis of that slide fails naming it rather than
    silently running on the whole slide."""
    from radpath.cohort import load_manifest

    found: dict[str, str] = {}
    for target in targets:
        path = Path(target)
        if path.suffix.lower() not in {".yaml", ".yml"}:
            continue
        loaded = load_manifest(path)
        spec = loaded.manifest.slides
        if spec is None or not spec.annotations:
            continue
        root = loaded.resolve(spec.root)
        for pid, slide in slide_cases(con, target)[1]:
            pattern = spec.annotations.format(patient_id=pid)
            files = sorted(root.glob(pattern))
            found[slide] = str(files[0] if files else root / pattern)
    return found
