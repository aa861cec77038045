"""The synthetic study used by the demo and the tests.

`draw_truth` draws per-patient latent truth once; each modality renderer in `registry.RENDERERS`
turns that truth into files in the formats users have, and returns the manifest sections that
point at them. `generate_study` runs them all and writes one manifest per cohort.
"""
