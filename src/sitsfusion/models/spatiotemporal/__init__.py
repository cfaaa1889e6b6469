"""Spatiotemporal modules."""
