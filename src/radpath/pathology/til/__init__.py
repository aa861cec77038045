"""Tumour-TIL patch maps (Saltz et al. 2018; Abousamra et al. 2022): two patch classifiers over a slide.

- `nets`: patch-classifier architectures (ResNet, VGG16, `inception` Inception-v4) in an explicit
  registry, their model files, and which output is the positive class (radpath files or zoo folders);
- `train`: training a 2-class patch classifier as the paper does (`radpath train-til`);
- `maps`: window aggregation, the combined Tumour-TIL RGB map, map files;
- `scores`: TIL scores from the maps (tumour bed, intratumoural, peritumoural, non-tumour);
- `pipeline`: the per-slide worker of `score-wsi` and `import-til-maps`, and the warehouse writes.

Built on the shared slide reading, tissue mask, tiling, inference and model-file modules of
`radpath.pathology`; nothing outside this package imports it except the faces (cli) and tests.
"""
