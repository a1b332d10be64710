"""The local cache (the assets dir): layout and reads, locks and partial downloads, the
manifest memo, verification, the hash cache of pushed files, and prune."""
