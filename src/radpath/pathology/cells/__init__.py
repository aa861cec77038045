"""Cell detection and counting: Ki-67 index and cell-level TIL score (PathoNet; IHC lymphocyte detection).

Modules: `data` (labelled images: SHIDC-B-Ki-67 JSON, CSV points, TIGER COCO), `nets` (PathoNet, the 70 x 70
patch classifier, model files), `train`, `postprocess` (density map -> centres; NMS), `detect` (images and
whole slides through the shared tiling loop), `matching` (optimal matching, P/R/F1, FROC), `scoring`
(Ki-67 index, TIL score, categories, feature registry), `pipeline` (detect-cells stage), `evaluate`.
Importing this package imports neither torch nor openslide.
"""

from radpath.pathology.cells.matching import match_cells
from radpath.pathology.cells.scoring import ki67_index, til_cell_score

__all__ = ["ki67_index", "match_cells", "til_cell_score"]
