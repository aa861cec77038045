"""Whole-slide pathology: slides, tissue masks, patch classifiers, probability maps and TIL scores.

Modules: `slides` (openslide access), `tissue` (thumbnail tissue mask, patch grid geometry),
`models` (architecture registry, model files), `train` (patch classifier training), `infer`
(streamed batched inference over a slide), `maps` (aggregation, Tumour-TIL RGB maps, files),
`scores` (TIL scores from maps), `pipeline` (per-slide worker and warehouse writes).
"""
