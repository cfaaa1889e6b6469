"""LightningModules: a model, its loss and its metrics for one task."""
