"""Reproducible benchmark suite for assetstore (issue 5): ``python -m benchmarks.run``."""
