"""The shared backend test suite: the same scenarios on every provider (memory, local,
S3 on moto, GCS on fake-gcs-server, Azure on Azurite), as fsspec's tests/abstract/ does."""
