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

TINY_UTAE = (
    "model.encoder={name: utae, encoder_widths: [8, 8, 8, 16], decoder_widths: [8, 8, 8, 16], "
    "n_head: 4, d_model: 16, d_k: 4}",
    "data.batch_size=2",
)
"""U-TAE (seed 001's segmentation encoder) with 8 / 16 channels and a 4-head L-TAE, batches
of 2 patches."""
