"""Reproducible benchmark suite for assetstore: ``python -m benchmarks.run``."""
