"""Statistics of the study: feature–TIL association, LASSO signatures, composite models, ROC/DeLong.

Modules (import the one you need; nothing heavy is imported here):

- `radpath.stats.association`: Pearson r with Fisher-z CI and Benjamini–Hochberg FDR.
- `radpath.stats.signature`: repeated k-fold LASSO selection frequencies and the final OLS signature.
- `radpath.stats.composite`: multivariable OLS of TIL on signature + molecular scores (paper Table 4).
- `radpath.stats.roc`: ROC AUC, fast paired DeLong test, Youden thresholds (paper Table 3).
- `radpath.stats.models`: the versioned model artifact store (`models`, `model_predictions` tables).
- `radpath.stats.survival`: survival analysis (issue #7).
"""
