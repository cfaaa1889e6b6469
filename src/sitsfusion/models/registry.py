"""The model registry: each encoder registers itself, by kind and name, where it is defined.

timm's pattern: a decorator on the class, and :mod:`sitsfusion.models` imports every module
that defines a model, so the registry is complete as soon as ``sitsfusion.models`` (or any of
its submodules) is imported. The builder finds models only here, by the ``name`` of a config
section. A kind says which interface the model follows, which keyword arguments the builder
passes (the rest come from the config section) and which section of ``model`` names it:

* ``spatial`` (``model.spatial``): a spatial encoder, ``x [B, T, C, *], valid [B, T, *] |
  None -> [B, T, F]``; built with ``in_channels=C``.
* ``temporal`` (``model.temporal``): a temporal encoder, ``x [B, T, F], dates [B, T],
  pad_mask [B, T] -> [B, D]``; built with ``in_channels=F``.
* ``spatiotemporal`` (``model.encoder``): a dense encoder, ``PaddedSeries [B, T, C, H, W] ->
  [B, D, H, W]``; built with ``in_channels=C``.
* ``network`` (``model.encoder`` with ``model.fusion: feature``): a whole network that fuses
  an optical and a radar series itself, ``batch -> logits [B, K, H, W]``; built with
  ``s2_channels``, ``s1_channels``, ``num_classes``, ``s2_name``, ``s1_name``.

Every registered model has an ``out_channels`` attribute (``F``, ``D`` or ``K``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from torch import nn

from sitsfusion.config import ConfigError

__all__ = ["MODEL_KINDS", "ModelKind", "create_model", "list_models", "register_model"]

ModelKind = Literal["spatial", "temporal", "spatiotemporal", "network"]

#: kind -> the section of ``model`` in a config whose ``name`` selects a model of that kind
MODEL_KINDS: dict[str, str] = {
    "spatial": "spatial",
    "temporal": "temporal",
    "spatiotemporal": "encoder",
    "network": "encoder",
}

ModelFactory = TypeVar("ModelFactory", bound=Callable[..., nn.Module])

# the registry itself: {kind: {name: class or factory}}
_MODELS: dict[str, dict[str, Callable[..., nn.Module]]] = {kind: {} for kind in MODEL_KINDS}


def _check_kind(kind: str, caller: str) -> dict[str, Callable[..., nn.Module]]:
    if kind not in MODEL_KINDS:
        raise ValueError(f"{caller}: kind {kind!r} is not one of {list(MODEL_KINDS)}")
    return _MODELS[kind]


def _qualified_name(factory: Callable[..., Any]) -> str:
    return f"{factory.__module__}.{factory.__qualname__}"


def register_model(kind: ModelKind, name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Class decorator: make ``factory`` the model ``name`` of ``kind`` (returned unchanged).

    ``factory`` is a class (or a function) called with the builder's keyword arguments for
    ``kind`` (see the module docstring) plus the options of the config section.

    Raises:
        ValueError: unknown ``kind``, empty ``name``, or ``name`` already taken by another
            model of that kind (re-registering the same class, e.g. on a module reload, is
            allowed).

    Example::

        @register_model("temporal", "gru")
        class GRUEncoder(nn.Module): ...
    """
    models = _check_kind(kind, "register_model")
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_model: the name must be a non-empty string, got {name!r}")

    def decorate(factory: ModelFactory) -> ModelFactory:
        existing = models.get(name)
        if existing is not None and _qualified_name(existing) != _qualified_name(factory):
            raise ValueError(
                f"register_model: {kind} model {name!r} is already registered "
                f"({_qualified_name(existing)}); choose another name"
            )
        models[name] = factory
        return factory

    return decorate


def create_model(kind: ModelKind, name: object, /, **kwargs: Any) -> nn.Module:
    """The registered model ``name`` of ``kind``, built with ``kwargs``.

    Raises:
        ConfigError: ``model.<section>.name: <name> is not one of [...]`` (the registered names
            of ``kind``) on an unknown name; ``model.<section>: <the TypeError>`` when the
            options do not fit the model's signature.
        ValueError: unknown ``kind`` (a programming error, not a config one).
    """
    models = _check_kind(kind, "create_model")
    section = MODEL_KINDS[kind]
    if not isinstance(name, str) or name not in models:
        raise ConfigError(f"model.{section}.name: {name!r} is not one of {sorted(models)}")
    try:
        return models[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"model.{section}: {exc}") from None


def list_models(kind: ModelKind | None = None) -> list[str]:
    """Sorted names of the registered models of ``kind``; all of them as ``"kind/name"``
    when ``kind`` is None."""
    if kind is not None:
        return sorted(_check_kind(kind, "list_models"))
    return sorted(f"{k}/{name}" for k, models in _MODELS.items() for name in models)
