#!/usr/bin/env bash
# The whole study on the synthetic default, every stage in order, then the report.
#   scripts/demo.sh [DIR]      (make demo runs it with DIR=demo; each step is a command you can run yourself)
set -euo pipefail
DIR=${1:-demo}
BIN=${BIN:-.venv/bin}
JOBS=${JOBS:-2}
export RADPATH_DB="$DIR/radpath.duckdb"
start=$(date +%s)
step() { printf '\n== [%4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }

rm -rf "$DIR"
mkdir -p "$DIR"
STUDY="$DIR/study"
TRAIN="$STUDY/tcga_brca/manifest.yaml"
VALID="$STUDY/ispy1/manifest.yaml"

step "synthetic study (truth table, MRI, slides, expression, mutations, clinical tables)"
"$BIN/radpath" synth --out "$STUDY" --seed 1 --jobs "$JOBS"
step "ingest clinical, TIL and outcome tables; inclusion criteria"
"$BIN/radpath" ingest "$TRAIN" "$VALID"
step "DCE-MRI features"
"$BIN/radpath" extract-mri "$TRAIN" --jobs "$JOBS"
"$BIN/radpath" extract-mri "$VALID" --jobs "$JOBS"
step "train the tumour and lymphocyte patch classifiers on synthetic labelled patches"
"$BIN/radpath" train-til --task tumor --data "$STUDY/patches/tumor" --out "$DIR/models/tumor.safetensors"
"$BIN/radpath" train-til --task lymphocyte --data "$STUDY/patches/lymphocyte" --out "$DIR/models/lymphocyte.safetensors"
step "score the whole-slide images (TIL maps and scores)"
"$BIN/radpath" score-wsi "$TRAIN" --tumor-model "$DIR/models/tumor.safetensors" --til-model "$DIR/models/lymphocyte.safetensors" \
  --out "$DIR/til_maps" --jobs "$JOBS"
step "tissue compartments (TIGER): train a small segmentation network and evaluate it"
"$BIN/radpath" train-seg --data "$STUDY/segmentation/train" --out "$DIR/models/tissue.safetensors" --epochs 8
"$BIN/radpath" evaluate-seg --data "$STUDY/segmentation/test" --model "$DIR/models/tissue.safetensors"
step "H&E lymphocyte detector (TIGER TILs): a small lymphocyte-only PathoNet at 2 um/px, FROC (radpath and TIGER protocols), detect on the slides"
"$BIN/radpath" train-cells --method density --data "$STUDY/he_cells/train" --out "$DIR/models/he_cells.safetensors" \
  --model-mpp 2 --sigma-px 1.5 --width 4 --input-px 64 --lr 3e-3 --epochs 8 --step-epochs 6 --crops 3
"$BIN/radpath" evaluate-cells --data "$STUDY/he_cells/test" --model "$DIR/models/he_cells.safetensors" \
  --protocol radpath --protocol tiger
"$BIN/radpath" detect-cells "$TRAIN" --model "$DIR/models/he_cells.safetensors" --out "$DIR/he_cells" --jobs "$JOBS"
step "stromal TIL scores from the detected lymphocytes (TIGER) inside the segmented stroma"
"$BIN/radpath" segment-wsi "$TRAIN" --model "$DIR/models/tissue.safetensors" --cells "$DIR/he_cells" \
  --out "$DIR/tissue_masks" --jobs "$JOBS"
step "cell detection: PathoNet on synthetic Ki-67 IHC fields; Ki-67 index and cell TIL score per patient"
"$BIN/radpath" train-cells --method density --data "$STUDY/ihc/train" --out "$DIR/models/cells.safetensors" \
  --epochs 10 --crops 3
"$BIN/radpath" evaluate-cells --data "$STUDY/ihc/test" --model "$DIR/models/cells.safetensors" \
  --protocol pathonet --protocol radpath
"$BIN/radpath" detect-cells "$STUDY/ihc/tcga_brca/images.csv" --cohort tcga_brca \
  --model "$DIR/models/cells.safetensors" --out "$DIR/cells" --jobs "$JOBS" --truth "$STUDY/ihc/tcga_brca/truth.csv"
step "cytolytic activity and TMB, ComBat across platforms"
"$BIN/radpath" cytolytic "$TRAIN" "$VALID" --harmonize --reference tcga_brca
step "univariate associations (TIL, TMB, CYT)"
"$BIN/radpath" associate --cohort tcga_brca --target til --modality mri --modality pathology
step "LASSO imaging signatures (10-fold CV x 100 repeats): the paper's 17 Table 1 features, then every MRI feature"
"$BIN/radpath" fit-signature --cohort tcga_brca --name paper_signature --features paper_table1 --jobs "$JOBS" \
  --label "Imaging signature (17 Table 1 features)"
"$BIN/radpath" fit-signature --cohort tcga_brca --name mri_signature --modality mri --jobs "$JOBS" \
  --label "Imaging signature (all MRI features)"
step "composite model: paper signature + cytolytic activity"
"$BIN/radpath" fit-composite --cohort tcga_brca --signature paper_signature --with cyt \
  --adjust stage,er,pr,her2,tnbc,tmb --label "Imaging signature + cytolytic activity"
step "the published signature (Wu et al.), standardised within each cohort"
"$BIN/radpath" apply --model published:wu2020_signature --cohort tcga_brca
step "evaluate on the training cohort (Table 3): every model on the same patients, DeLong against the composite"
"$BIN/radpath" evaluate --cohort tcga_brca --model composite \
  --compare paper_signature,mri_signature,published:wu2020_signature
step "apply the frozen models to the validation cohort"
"$BIN/radpath" apply --model paper_signature --cohort ispy1
"$BIN/radpath" apply --model mri_signature --cohort ispy1
"$BIN/radpath" apply --model composite --cohort ispy1
"$BIN/radpath" apply --model published:wu2020_signature --cohort ispy1
step "survival validation on I-SPY 1"
"$BIN/radpath" validate-survival --cohort ispy1 --model composite --no-figures  # the report draws one KM figure per subgroup
step "manuscript tables, figures and HTML report"
"$BIN/radpath" report --out "$DIR/report"
"$BIN/radpath" status
printf '\nmake demo finished in %ds; open %s\n' "$(( $(date +%s) - start ))" "$DIR/report/report.html"
printf 'explore the warehouse: . %s/activate; export RADPATH_DB=%s; radpath status; radpath sql "SELECT * FROM table3_classification"\n' \
  "$BIN" "$DIR/radpath.duckdb"
printf 'browse the study (slides with their TIL maps, patients, tables): %s serve --db %s, then open http://127.0.0.1:8000/\n' \
  "$BIN/radpath" "$DIR/radpath.duckdb"
