"""The patient page's MRI montage: drawn on first view from the cohort manifest's MRI files by the same code as
`radpath mri inspect` (a NIfTI phantom case of tests/mri), kept, and a 404 for a patient without MRI."""

from __future__ import annotations

import io
from pathlib import Path

import yaml
from PIL import Image
from tests.mri.helpers import phantom_arrays, write_nifti_case

from radpath.viewer.app import ViewerConfig, create_app
from radpath.warehouse import open_warehouse

from .conftest import build_warehouse, viewer_client


def test_mri_montage(tmp_path: Path) -> None:
    study = build_warehouse(tmp_path / "study", with_slides=False, with_stage_tables=False)
    cohort_dir = tmp_path / "cohort"
    write_nifti_case(cohort_dir / "mri" / "P-001", phantom_arrays())
    (cohort_dir / "clinical.csv").write_text("id,age\nP-001,51\nP-002,63\n")
    manifest = cohort_dir / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "tcga_brca", "role": "training",
        "clinical": [{"path": "clinical.csv", "id_column": "id", "columns": {"age": "age"}}],
        "mri": {"root": "mri", "breast_mask": "breast_mask.nii.gz"},
    }))
    with open_warehouse(study.db) as con:
        con.execute("UPDATE cohort_registry SET manifest_path = ? WHERE cohort = 'tcga_brca'", [str(manifest)])
        con.execute("INSERT INTO mri_case_qc (cohort, patient_id, params_hash, run_id) "
                    "VALUES ('tcga_brca', 'P-001', 'p', 'r')")
    with viewer_client(create_app(ViewerConfig(db=study.db, work_dir=tmp_path / "work"))) as client:
        assert 'src="/patients/P-001/mri/tcga_brca.png"' in client.get("/patients/P-001").text
        assert "/mri/" not in client.get("/patients/P-002").text
        response = client.get("/patients/P-001/mri/tcga_brca.png")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        assert image.size == (18 * 80, int(2 * 3.3 * 80))   # two rows of six 3 x 3.3 in panels, 80 dpi
        assert (tmp_path / "work" / "drawings" / "mri" / "tcga_brca" / "P-001.png").is_file()
        assert client.get("/patients/P-002/mri/tcga_brca.png").status_code == 404
        assert client.get("/patients/P-001/mri/ispy1.png").status_code == 404
