"""Named queries (queries/) and manuscript views (views/) ship inside this package."""
