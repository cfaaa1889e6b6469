"""Models: spatial, temporal and spatio-temporal encoders, heads, and fusion of modalities."""
