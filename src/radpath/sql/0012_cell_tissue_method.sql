-- 0012_cell_tissue_method: how detect-cells found the tissue its densities per mm2 divide by, per source.
-- 'field' (a field of view counts as all tissue), 'saturation' (H&E: Otsu on HSV saturation) or
-- 'optical_density' (pale counterstained IHC: optical density against the slide's glass), see
-- radpath.pathology.tissue.find_tissue; and that tissue's area. Rows written before this migration hold NULL.
ALTER TABLE cell_files ADD COLUMN tissue_method VARCHAR;
ALTER TABLE cell_files ADD COLUMN tissue_area_mm2 DOUBLE;
