"""Genomic scores: expression readers, cytolytic activity (CYT), ComBat harmonisation, mutation burden (TMB).

Modules: `samples` (TCGA barcodes and the one-sample-per-patient rule), `expression` (GDC STAR-counts,
gene matrices, GEO series matrices), `cytolytic`, `combat`, `tmb`, and `pipeline` (what
`radpath cytolytic` runs: read every cohort, harmonise, score, write the warehouse in one transaction).
"""
