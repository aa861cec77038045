"""Manuscript outputs: tables (`tables.py`, from the SQL views in `sql/views/`), figures (`figures.py`)
and the self-contained HTML report (`html.py`)."""
