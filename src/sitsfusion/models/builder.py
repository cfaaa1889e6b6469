"""Build parcel classifiers from a :class:`~sitsfusion.config.ModelConfig`.

Every fusion level is assembled from the same parts (a spatial encoder, a temporal encoder, a
decoder per the config) and the fusion classes of :mod:`sitsfusion.models.fusion`; nothing is
instantiated that the chosen level does not use (unlike CropTypeMapping, which builds every
branch whatever the fusion type). The encoders named in the config (``model.spatial``,
``model.temporal``, ``model.encoder``) are found in :mod:`sitsfusion.models.registry` only.

Fusion names follow seed 001; seed 000's names map as: "TAE fusion" = ``late``, "late fusion"
(averaged probabilities) = ``decision``, "PSE fusion" = ``pse`` (a mid fusion merging per-date
features along channels).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from sitsfusion.config import ConfigError, ExperimentConfig, ModelConfig
from sitsfusion.models.base import SeparableEncoder
from sitsfusion.models.fusion import (
    DecisionFusion,
    EarlyFusion,
    FusionOutput,
    LateFusion,
    MidFusion,
)
from sitsfusion.models.heads.conv import ConvDecoder
from sitsfusion.models.heads.mlp import MLPDecoder
from sitsfusion.models.heads.paps import PaPs
from sitsfusion.models.panoptic import PanopticNetwork
from sitsfusion.models.registry import MODEL_KINDS, ModelKind, create_model
from sitsfusion.models.spatiotemporal.unet import VGG16UNet

__all__ = [
    "build_model",
    "build_panoptic_model",
    "build_parcel_model",
    "build_semantic_model",
    "count_parameters",
]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _from_config(kind: ModelKind, spec: Mapping[str, Any], **fixed: Any) -> nn.Module:
    """The registered model ``spec["name"]`` of ``kind``, built with ``fixed`` (the builder's
    arguments: channels, classes, modality names) and the rest of ``spec`` (the config's)."""
    options = dict(spec)
    name = options.pop("name", None)
    clash = sorted(set(options) & set(fixed))
    if clash:
        raise ConfigError(
            f"model.{MODEL_KINDS[kind]}: {clash} are set by the builder (from the data and "
            "model.num_classes), not in the config"
        )
    return create_model(kind, name, **fixed, **options)


def _spatial(cfg: ModelConfig, in_channels: int) -> nn.Module:
    return _from_config("spatial", cfg.spatial, in_channels=in_channels)


def _temporal(cfg: ModelConfig, in_channels: int) -> nn.Module:
    return _from_config("temporal", cfg.temporal, in_channels=in_channels)


def _decoder(cfg: ModelConfig, in_channels: int) -> nn.Module:
    return MLPDecoder(in_channels, widths=tuple(cfg.decoder), num_classes=cfg.num_classes)


def _encoder(cfg: ModelConfig, in_channels: int) -> SeparableEncoder:
    spatial = _spatial(cfg, in_channels)
    return SeparableEncoder(spatial, _temporal(cfg, int(spatial.out_channels)))


def _late_encoders(cfg: ModelConfig, channels: Mapping[str, int]) -> dict[str, SeparableEncoder]:
    """One PSE + temporal encoder per modality; ``cfg.shared_temporal`` share one temporal."""
    shared = list(cfg.shared_temporal)
    unknown = [m for m in shared if m not in channels]
    if unknown or len(shared) == 1:
        raise ConfigError(
            f"model.shared_temporal: needs two or more of the modalities {list(channels)}, "
            f"got {shared}"
        )
    encoders: dict[str, SeparableEncoder] = {}
    common = None
    for m, c in channels.items():
        spatial = _spatial(cfg, c)
        if m in shared:
            common = common or _temporal(cfg, int(spatial.out_channels))
            encoders[m] = SeparableEncoder(spatial, common)
        else:
            encoders[m] = SeparableEncoder(spatial, _temporal(cfg, int(spatial.out_channels)))
    return encoders


def build_parcel_model(cfg: ModelConfig, channels: Mapping[str, int]) -> nn.Module:
    """The parcel classifier for ``cfg`` over modalities ``channels`` (``{name: C}``, in order).

    Returns a fusion module whose ``forward(batch)`` gives a ``FusionOutput`` (``logits
    [B, K]``, ``aux`` per-modality logits when ``cfg.auxiliary > 0``). ``fusion="none"`` (one
    modality) is an encoder and a decoder.
    """
    mods = list(channels)
    if not mods:
        raise ConfigError("model: no modality to build a model for")
    fusion = cfg.fusion
    if cfg.shared_temporal and fusion not in ("late", "decision"):
        raise ConfigError("model.shared_temporal: only for late and decision fusion")
    if fusion in ("mid", "pse") and len(mods) >= 2:
        spatial = {m: _spatial(cfg, c) for m, c in channels.items()}
        widths = [int(s.out_channels) for s in spatial.values()]
        merge = "time" if fusion == "mid" else "channels"
        temporal = _temporal(cfg, widths[0] if merge == "time" else sum(widths))
        aux_decoders = None
        if cfg.auxiliary > 0:
            if merge == "channels":
                raise ConfigError("model.auxiliary: not defined for PSE fusion (seed 000)")
            aux_decoders = {m: _decoder(cfg, temporal.out_channels) for m in mods}
        return MidFusion(
            spatial, temporal, _decoder(cfg, temporal.out_channels), merge, aux_decoders
        )
    late = _late_encoders(cfg, channels) if fusion in ("late", "decision") else None
    return _assemble(cfg, channels, lambda c: _encoder(cfg, c), lambda c: _decoder(cfg, c), late)


def _assemble(
    cfg: ModelConfig,
    channels: Mapping[str, int],
    make_encoder: Callable[[int], nn.Module],
    make_decoder: Callable[[int], nn.Module],
    encoders: dict[str, nn.Module] | None = None,
) -> nn.Module:
    """``none`` / ``early`` / ``late`` / ``decision`` fusion of ``make_encoder(C)`` encoders and
    ``make_decoder(D)`` decoders — the same assembly for parcel and dense models.

    ``encoders``: ready per-modality encoders for late / decision fusion (default: one
    ``make_encoder`` per modality).
    """
    mods = list(channels)
    aux, fusion = cfg.auxiliary > 0, cfg.fusion
    if fusion == "none":
        if len(mods) != 1:
            raise ConfigError(
                f"model.fusion: 'none' takes one modality, got {mods}; choose a fusion level"
            )
        if aux:
            raise ConfigError("model.auxiliary: auxiliary supervision needs several modalities")
        enc = make_encoder(channels[mods[0]])
        return LateFusion({mods[0]: enc}, make_decoder(enc.out_channels))
    if len(mods) < 2:
        raise ConfigError(f"model.fusion: {fusion!r} fusion needs two or more modalities")
    if fusion == "early":
        if aux:
            raise ConfigError(
                "model.auxiliary: early fusion has no per-modality branch to supervise (seed "
                "001 Sec. 3.2: it would duplicate the whole network); set auxiliary: 0"
            )
        enc = make_encoder(sum(channels.values()))
        return EarlyFusion(enc, make_decoder(enc.out_channels), mods)
    if fusion not in ("late", "decision"):
        raise ConfigError(f"model.fusion: unknown fusion {fusion!r}")
    encoders = encoders or {m: make_encoder(c) for m, c in channels.items()}
    if fusion == "late":
        width = sum(e.out_channels for e in encoders.values())
        aux_decoders = {m: make_decoder(e.out_channels) for m, e in encoders.items()}
        return LateFusion(encoders, make_decoder(width), aux_decoders if aux else None)
    decoders = {m: make_decoder(e.out_channels) for m, e in encoders.items()}
    return DecisionFusion(encoders, decoders, rule=cfg.decision_rule, aux=aux)


def _dense_encoder(cfg: ModelConfig, in_channels: int) -> nn.Module:
    return _from_config("spatiotemporal", cfg.encoder, in_channels=in_channels)


def _conv_decoder(cfg: ModelConfig, in_channels: int) -> nn.Module:
    if cfg.dense_decoder == "vgg16_unet":  # seed 003: features of the ConvLSTM into a U-Net
        return VGG16UNet(in_channels, cfg.num_classes, widths=tuple(cfg.unet_widths))
    if cfg.dense_decoder == "linear":  # seed 004's PAD models: a 1x1 conv on the features
        return MLPDecoder(in_channels, widths=tuple(cfg.head), num_classes=cfg.num_classes)
    return ConvDecoder(
        in_channels,
        widths=tuple(cfg.head),
        num_classes=cfg.num_classes,
        legacy_logit_norm=cfg.legacy_logit_norm,
    )


class _WholeNetwork(nn.Module):
    """A network that fuses its modalities itself, returning ``FusionOutput(logits, {})``."""

    def __init__(self, network: nn.Module, modalities: list[str]) -> None:
        super().__init__()
        self.network = network
        self.modalities = modalities

    def forward(self, batch: Any) -> FusionOutput:
        return FusionOutput(self.network(batch), {})


def _feature_fusion(cfg: ModelConfig, channels: Mapping[str, int]) -> nn.Module:
    """Seed 003's ConvLSTM + Inception-S1S2 (one ConvLSTM per sensor, Inception on the first
    dates of both, fused in a VGG-16 U-Net); ``model.encoder`` gives its options."""
    names = list(channels)
    if len(names) != 2:
        raise ConfigError(
            f"model.fusion: 'feature' fuses an optical and a radar series, got {names}"
        )
    s2, s1 = names
    network = _from_config(
        "network",
        cfg.encoder,
        s2_channels=channels[s2],
        s1_channels=channels[s1],
        num_classes=cfg.num_classes,
        s2_name=s2,
        s1_name=s1,
    )
    return _WholeNetwork(network, names)


def build_semantic_model(cfg: ModelConfig, channels: Mapping[str, int]) -> nn.Module:
    """The semantic segmentation model for ``cfg`` (``logits [B, K, H, W]``).

    Seed 001 Sec. 3.4: a U-TAE encoder per modality (its full-resolution decoder map) and a
    2-layer conv decoder; early, late and decision fusion. Mid fusion is refused: U-TAE's
    spatial and temporal encoders are intertwined (the attention of its temporal encoder
    weights the skip connections of its spatial encoder).
    """
    fusion = cfg.fusion
    if fusion == "feature":
        return _feature_fusion(cfg, channels)
    if fusion in ("mid", "pse"):
        raise ConfigError(
            f"model.fusion: {fusion!r} fusion needs an encoder with separate spatial and "
            "temporal parts; U-TAE's are intertwined (seed 001 Sec. 3.4). Use early, late or "
            "decision fusion for semantic segmentation"
        )
    if cfg.shared_temporal:
        raise ConfigError("model.shared_temporal: not available for semantic segmentation")
    return _assemble(
        cfg, channels, lambda c: _dense_encoder(cfg, c), lambda c: _conv_decoder(cfg, c)
    )


def build_panoptic_model(cfg: ModelConfig, channels: Mapping[str, int]) -> nn.Module:
    """U-TAE + PaPs (seed 001 Sec. 3.4 / 4.5): ``batch -> PaPsOutput``.

    ``model.fusion``: ``none`` (one modality), ``early`` or ``late``; ``model.encoder`` must be
    a U-TAE (PaPs reads its decoder maps); ``model.paps`` holds the head's options.
    """
    mods, fusion = list(channels), cfg.fusion
    if fusion in ("decision", "mid", "pse", "feature"):
        raise ConfigError(
            f"model.fusion: {fusion!r} is not available for panoptic segmentation (seed 001 "
            "Sec. 3.4: averaging instance masks of several heads is not straightforward and "
            "costly; U-TAE has no separable spatial / temporal parts); use none, early or late"
        )
    if cfg.encoder.get("name") != "utae":
        raise ConfigError("model.encoder.name: PaPs reads U-TAE's decoder maps; use utae")
    if cfg.auxiliary > 0:
        raise ConfigError(
            "model.auxiliary: not for panoptic segmentation (seed 001 Sec. 4.5: auxiliary PaPs "
            "heads are prohibitively costly)"
        )
    if fusion == "none" and len(mods) != 1:
        raise ConfigError(f"model.fusion: 'none' takes one modality, got {mods}")
    if fusion in ("early", "late") and len(mods) < 2:
        raise ConfigError(f"model.fusion: {fusion!r} fusion needs two or more modalities")
    if fusion == "late":
        encoders = {m: _dense_encoder(cfg, c) for m, c in channels.items()}
    else:
        encoders = {mods[0]: _dense_encoder(cfg, sum(channels.values()))}
    enc_dim = sum(int(e.decoder_widths[0]) for e in encoders.values())
    stack_dim = sum(sum(int(w) for w in e.decoder_widths) for e in encoders.values())
    try:
        head = PaPs(enc_dim=enc_dim, stack_dim=stack_dim, num_classes=cfg.num_classes, **cfg.paps)
    except TypeError as exc:
        raise ConfigError(f"model.paps: {exc}") from None
    return PanopticNetwork(encoders, head, "none" if fusion == "none" else fusion, mods)


def build_model(cfg: ExperimentConfig, channels: Mapping[str, int]) -> nn.Module:
    """The model of an experiment: parcel classifier, semantic or panoptic segmenter by
    ``cfg.task``."""
    if cfg.task == "semantic":
        return build_semantic_model(cfg.model, channels)
    if cfg.task == "panoptic":
        return build_panoptic_model(cfg.model, channels)
    return build_parcel_model(cfg.model, channels)
