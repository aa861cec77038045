"""`radpath serve`: a local, read-only web viewer of the warehouse (a second face beside `radpath.cli`).

Nothing in the core imports this package. `radpath.viewer.app.create_app(ViewerConfig(db=...))` builds the
Starlette app; `store` reads the warehouse, `deepzoom` serves slide tiles, `overlays` is the registry of
layers drawn over a slide, `tables` and `figures` reuse the report's tables and figures.
"""
