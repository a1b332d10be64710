"""A version's lifecycle after its push: yank, delete, retention, expiry and the garbage
collector (docs/concepts.md, "Lifecycle")."""
