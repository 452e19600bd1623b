"""Training, evaluation and prediction. Reads dataset manifests and image files only: never the
catalog or the scrapers (``pipeline.manifest`` is its one way in)."""
