"""Heads modules."""
