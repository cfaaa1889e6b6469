"""Temporal modules."""
