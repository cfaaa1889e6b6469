"""Spatial modules."""
