"""Pure values, no I/O: names, versions and specs, relative paths, manifests."""
