-- 0018_pathology_evaluations: what `radpath evaluate-cells` and `radpath evaluate-seg` measured, and under which
-- evaluation protocol. One row per number; a re-run of the same (command, model, data, protocol) replaces its rows.
--
-- protocol: 'radpath' (radpath's own: optimal one-to-one matching, FROC over re-detections at the threshold grid;
-- Dice / IoU over every tile pixel), 'tiger' (the TIGER challenge's official evaluation code: greedy matching and
-- FROC at every unique probability; tumour / stroma / rest F1 from a confusion matrix of annotated pixels),
-- 'pathonet' (the PathoNet paper's evaluation.py: nearest prediction within 20 px at the 256-px network input),
-- or 'counts' (Ki-67 index and cell TIL score errors, which compare counts per image and need no matching).
CREATE TABLE pathology_evaluations (
    command     VARCHAR NOT NULL,     -- 'evaluate-cells' | 'evaluate-seg'
    model_path  VARCHAR NOT NULL,     -- the model file evaluated (absolute path)
    data_path   VARCHAR NOT NULL,     -- the labelled folder (absolute path)
    protocol    VARCHAR NOT NULL,     -- radpath | tiger | pathonet | counts (see above)
    subject     VARCHAR NOT NULL,     -- a cell class, 'all' (pooled), 'macro', a tissue class or group, 'scores'
    metric      VARCHAR NOT NULL,     -- e.g. precision, recall, f1, tp, fp, fn, sens@10 .. sens@300, froc, dice, iou
    value       DOUBLE,               -- NaN where undefined (0 / 0)
    run_id      VARCHAR NOT NULL
);
