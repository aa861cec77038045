"""DCE-MRI feature extraction (issue 3): read phases, standardise, correct, segment, and compute features.

Modules: `io` (DICOM/NIfTI phases and masks), `phases` (temporal standardisation), `preprocess`
(N4, normalisation, resampling), `segment` (breast and parenchyma), `kinetics` (PE/SER maps),
`texture` (IBSI GLCM), `features` (the feature-family registry), `pipeline` (one case end to end),
`extract` (the warehouse stage), `reduce` (redundancy reduction), `inspect` (a case summary and montage),
`tumour` (automatic tumour masks: auto-ftv, auto-fcm), `mask_files` (masks out as NIfTI and DICOM SEG),
`segment_tumour` (`radpath mri segment-tumour`), `qc` (quality flags).
Nothing here imports SimpleITK at import time of this package.
"""
