"""Whole-slide pathology: shared slide machinery, and one subpackage per analysis over it.

Shared: `slides` (openslide access), `tissue` (thumbnail tissue mask, patch grid geometry), `tiling`
(tiles read ahead on threads, batched model runs), `infer` (a patch classifier's probability map over
a slide), `models` (model files), `zoo` (WSInfer model-zoo folders), `training` (steps every trainer
shares), `cases` (which slides a run covers), `cellfile` (cell tables).
Analyses: `til` (Tumour-TIL patch maps and TIL scores), `segmentation` (tissue compartments),
`cells` (cell detection). Shared modules never import an analysis.
"""
