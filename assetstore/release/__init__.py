"""Releases: lockfiles that pin a service's assets, and syncing exactly what they pin."""
