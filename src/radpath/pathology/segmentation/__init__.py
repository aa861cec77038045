"""Tissue-compartment segmentation of H&E slides (TIGER) and the stromal TIL score.

- `labels`: the TIGER label set and the label sets a network can be trained for (tiger, binary-stroma);
- `nets`: U-Net / FPN networks (segmentation-models-pytorch) in an explicit registry, and model files;
- `data`: training tiles from TIGER's WSIROIS layout or `image.png` / `image_mask.png` pairs;
- `train`: Dice loss, 90-degree rotations and flips, Adam with the paper's schedule, best-val checkpoint;
- `wsi`: whole-slide inference with an overlap margin and centre stitching, on the shared tiling loop;
- `maskfile`: the slide mask as a tiled pyramidal label TIFF (openslide opens it) and a PNG overlay;
- `features` and `pipeline`: compartment areas and stromal TIL scores per slide, into the warehouse.
"""
