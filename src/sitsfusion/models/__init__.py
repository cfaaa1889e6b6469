"""Models: spatial, temporal and spatio-temporal encoders, heads, and fusion of modalities.

Importing this package imports every module that registers a model (as ``timm.models`` does),
so :func:`list_models` and :func:`create_model` know all of them whichever submodule was
imported first. A module that defines a registered model must be listed here (a test checks).
"""

from sitsfusion.models.registry import create_model, list_models, register_model

# imported for their side effect: each module registers the models it defines
from sitsfusion.models.spatial import mean, pse  # noqa: F401
from sitsfusion.models.spatiotemporal import (  # noqa: F401
    convlstm,
    convlstm_inception,
    convstar,
    unet,
    utae,
)
from sitsfusion.models.temporal import lstm, ltae, tae, tempcnn, transformer  # noqa: F401

__all__ = ["create_model", "list_models", "register_model"]
