-- 0014_cell_tissue_method: how detect-cells found the tissue its densities per mm2 divide by.
-- 'field' for fields of view (a field of view is all tissue); for a whole slide 'saturation' (the H&E rule)
-- or 'optical_density' (pale haematoxylin-counterstained IHC tissue), see radpath.pathology.tissue.
ALTER TABLE cell_scores ADD COLUMN tissue_method VARCHAR;
