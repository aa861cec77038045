-- Table 1: feature definitions (code, name, family, formula, unit), from each modality's feature registry.
CREATE OR REPLACE VIEW table1_features AS
SELECT modality, family, code, name, formula, unit
FROM feature_defs
ORDER BY modality, family, code;
