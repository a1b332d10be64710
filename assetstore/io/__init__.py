"""Plumbing that knows no provider, cache or layout: streaming with sha256, bounded
concurrency on threads and on an event loop, the retry policy."""
