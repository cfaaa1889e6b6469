"""Config overrides that shrink the papers' models for tests (not their hyperparameters)."""

TINY_PSE_LTAE = (
    "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
    "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
    "model.decoder=[8]",
    "data.batch_size=32",
    "data.n_pixels=8",
    "train.epochs=1",
)
"""PSE + L-TAE (seed 001's parcel model) a few hundred parameters wide, one epoch."""
