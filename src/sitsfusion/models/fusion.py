"""Fusion of modalities (Sentinel-2, Sentinel-1 ascending / descending, ...), written once.

Every scheme is built from "an encoder per modality" and "a decoder" that follow the interfaces
of :mod:`sitsfusion.models.base`, so the same classes serve parcel classification (embeddings
``[B, D]``, logits ``[B, K]``) and dense models (``[B, D, H, W]`` -> ``[B, K, H, W]``):
channels are always dimension 1 and every concatenation of embeddings is along it.

Names follow Garnot et al. 2021 (seed 001, Sec. 3.1); Ofori-Ampofo et al. 2021 (seed 000,
Sec. 4.2) uses other words for some of them:

================================  ==============================  ==========================
this module                       seed 001 (Sec. 3.1, eq.)        seed 000 (Sec. 4.2)
================================  ==============================  ==========================
:class:`EarlyFusion`              early fusion (eq. 1-2)          early fusion
:class:`MidFusion` ``"time"``     mid fusion (eq. 5)              --
:class:`MidFusion` ``"channels"`` --                              PSE fusion
:class:`LateFusion`               late feature fusion (eq. 3)     TAE fusion
:class:`DecisionFusion`           decision fusion (eq. 4)         late fusion (avg. / PoE)
================================  ==============================  ==========================

Every model's ``forward(batch)`` takes a :class:`~sitsfusion.data.sample.Batch` (or a mapping
``{modality: PaddedSeries}``) and returns a :class:`FusionOutput`: the fused ``logits
[B, K, *]`` and, with auxiliary supervision (seed 001 Sec. 3.2), one prediction per modality
in ``aux``. Train with ``criterion(out.logits, y) + auxiliary_loss(out, y, criterion)``
(seed 001 eq. 6-7). The modalities a model reads are the keys of the mappings it was given
(``model.modalities``), in that order, which is also the order of every concatenation; a
batch may hold more modalities than the model reads (they are ignored), never fewer.

Unlike CropTypeMapping's ``PseTae`` (``multi_sensor/models/stclassifier_fusion.py``), a model
here holds only the modules its scheme uses (no branch of another scheme is instantiated),
decision fusion has one decoder per modality (never a shared one), and it fuses probabilities,
not logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from sitsfusion.data.sample import Batch, PaddedSeries
from sitsfusion.models.base import (
    SeparableEncoder,
    SpatialEncoder,
    SpatioTemporalEncoder,
    TemporalEncoder,
)

__all__ = [
    "DecisionFusion",
    "EarlyFusion",
    "FusionOutput",
    "LateFusion",
    "MidFusion",
    "MissingModalityError",
    "auxiliary_loss",
    "merge_by_date",
    "require_separable",
]

BatchLike = Batch | Mapping[str, PaddedSeries]
MergeMode = Literal["time", "channels"]
AuxTemporal = Literal["shared", "separate"]
DecisionRule = Literal["mean", "product"]


class FusionOutput(NamedTuple):
    """What every fusion model returns.

    Attributes:
        logits: ``[B, K]`` (parcels) or ``[B, K, H, W]`` (dense) scores of the fused
            prediction; ``softmax(logits, dim=1)`` are its class probabilities and
            ``cross_entropy(logits, y)`` its loss. For :class:`DecisionFusion` they are the
            fused distribution's log-probabilities (already normalised).
        aux: ``{modality: [B, K, *] logits}``, the single-modality predictions used for
            auxiliary supervision (seed 001 Sec. 3.2, eq. 7); empty when it is off.
    """

    logits: Tensor
    aux: dict[str, Tensor]


class MissingModalityError(KeyError, ValueError):
    """A batch lacks a modality the model reads (catchable as ``KeyError`` or ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _series_of(batch: BatchLike) -> Mapping[str, PaddedSeries]:
    return batch.series if isinstance(batch, Batch) else batch


def _inputs(batch: BatchLike, names: Sequence[str], scheme: str) -> dict[str, PaddedSeries]:
    """The series of ``names`` in ``batch``, or a :class:`MissingModalityError` naming them."""
    series = _series_of(batch)
    missing = [n for n in names if n not in series]
    if missing:
        raise MissingModalityError(
            f"{scheme} reads modalities {list(names)} but the batch lacks {missing}; "
            f"the batch has {list(series)}. Load the missing modalities (e.g. the reader's "
            "`modalities` argument) or build the model for the batch's modalities."
        )
    return {n: series[n] for n in names}


def _module_dict(modules: Mapping[str, object], what: str, scheme: str) -> nn.ModuleDict:
    if not isinstance(modules, Mapping) or len(modules) == 0:
        raise ValueError(f"{scheme}: {what} must be a non-empty mapping {{modality: module}}")
    for name, module in modules.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{scheme}: {what} keys must be modality names, got {name!r}")
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{scheme}: {what}[{name!r}] must be a torch.nn.Module, got {type(module).__name__}"
            )
    return nn.ModuleDict(dict(modules))


def _check_aux_keys(aux: Mapping[str, object], names: Sequence[str], scheme: str) -> None:
    unknown = [m for m in aux if m not in names]
    if unknown:
        raise ValueError(
            f"{scheme}: aux_decoders for {unknown}, which the model does not read; "
            f"its modalities are {list(names)}"
        )


def _dense_valid(series: PaddedSeries) -> Tensor | None:
    """The per-pixel valid mask ``[B, T, *]`` a spatial encoder takes, as in SeparableEncoder."""
    mask = series.mask
    return mask if mask is not None and mask.ndim > 2 else None


def _first_difference(a: PaddedSeries, b: PaddedSeries) -> str:
    """Describe where two series' dates or padding differ (for error messages)."""
    if a.dates.shape != b.dates.shape:
        return f"T differs ({a.dates.shape[1]} vs {b.dates.shape[1]} padded dates)"
    pad_diff = a.pad_mask != b.pad_mask
    date_diff = (a.dates != b.dates) & ~a.pad_mask
    bad = (pad_diff | date_diff).any(dim=1)
    i = int(torch.nonzero(bad)[0, 0])
    da = a.dates[i][~a.pad_mask[i]].tolist()
    db = b.dates[i][~b.pad_mask[i]].tolist()
    return f"sample {i} has dates {da[:8]}{'...' if len(da) > 8 else ''} vs {db[:8]}" + (
        "..." if len(db) > 8 else ""
    )


def _check_aligned(
    series: Mapping[str, PaddedSeries], scheme: str, same_spatial: bool
) -> PaddedSeries:
    """Check all series share dates and padding (and C-less shape); return the first.

    Dates are compared on real (unpadded) dates only, so padding may hold anything.
    """
    names = list(series)
    ref_name, ref = names[0], series[names[0]]
    for name in names[1:]:
        s = series[name]
        aligned = s.dates.shape == ref.dates.shape and bool(
            torch.equal(s.pad_mask, ref.pad_mask)
            and not ((s.dates != ref.dates) & ~ref.pad_mask).any()
        )
        if not aligned:
            raise ValueError(
                f"{scheme} concatenates the channels of {names} date by date, so they must be "
                f"observed on the same dates, but {name!r} differs from {ref_name!r}: "
                f"{_first_difference(ref, s)}. Resample them onto one modality's dates in the "
                "data pipeline (seed 001 Sec. 4.2 puts S1 on the S2 dates): per sample with "
                f"sitsfusion.data.transforms.resample(sample, source={name!r}, "
                f"target={ref_name!r}), or when reading with "
                f"PASTIS(..., resample={{{name!r}: {ref_name!r}}}). Mid fusion with "
                "merge='time', late and decision fusion take unaligned modalities."
            )
        if same_spatial and s.values.shape[3:] != ref.values.shape[3:]:
            raise ValueError(
                f"{scheme}: {name!r} has spatial shape {list(s.values.shape[3:])} but "
                f"{ref_name!r} has {list(ref.values.shape[3:])}; channels can only be "
                "concatenated over the same pixels (crop patches alike; sample the same pixels "
                "of a parcel in every modality, as transforms.sample_pixels does for equal N)"
            )
    return ref


def _and_masks(series: Sequence[PaddedSeries]) -> Tensor | None:
    """AND of the series' valid masks, ``[B, T]`` or ``[B, T, *]`` (None when none has one)."""
    masks = [s.mask for s in series if s.mask is not None]
    if not masks:
        return None
    dense = next((m.shape for m in masks if m.ndim > 2), None)
    out: Tensor | None = None
    for m in masks:
        if dense is not None and m.ndim == 2:
            m = m.view(*m.shape, *([1] * (len(dense) - 2))).expand(dense)
        out = m if out is None else out & m
    return out


def _concat_channels(embeddings: Mapping[str, Tensor], scheme: str) -> Tensor:
    """Concatenate ``{modality: [B, D_m, *]}`` along dim 1 -> ``[B, ΣD_m, *]``."""
    shapes = {m: (e.shape[0], *e.shape[2:]) for m, e in embeddings.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(
            f"{scheme}: the modalities' embeddings differ in batch or spatial size "
            f"{ {m: list(s) for m, s in shapes.items()} }; they are concatenated along the "
            "channels (dim 1) and must agree on every other dimension"
        )
    return torch.cat(list(embeddings.values()), dim=1)


def merge_by_date(
    features: Sequence[Tensor], dates: Sequence[Tensor], pad_masks: Sequence[Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    """Stack sequences along time into one sequence in date order (seed 001 eq. 5, merge^(T)).

    Args:
        features: per modality ``[B, T_m, F, ...]`` (same F and trailing dims).
        dates: per modality ``[B, T_m]`` integer days (one time origin for all).
        pad_masks: per modality ``[B, T_m]`` bool, True on padded dates.

    Returns:
        ``(x [B, L, F, ...], dates [B, L] int64, pad_mask [B, L])`` with ``L = Σ_m T_m``: for
        every sample its real dates sorted in increasing order, then all its padded dates.
        The sort is stable, so two modalities observed on the same day keep the order of
        ``features`` and padded dates keep their relative order; padded entries' values are
        carried along unchanged (the temporal encoder must ignore them through ``pad_mask``).
    """
    if not (len(features) == len(dates) == len(pad_masks)) or not features:
        raise ValueError("merge_by_date needs as many (non-zero) features, dates and pad_masks")
    x = torch.cat(list(features), dim=1)
    d = torch.cat([t.long() for t in dates], dim=1)
    pad = torch.cat(list(pad_masks), dim=1)
    key = d.masked_fill(pad, torch.iinfo(torch.int64).max)  # padding sorts last
    order = torch.sort(key, dim=1, stable=True).indices
    index = order.view(*order.shape, *([1] * (x.ndim - 2))).expand(x.shape)
    return x.gather(1, index), d.gather(1, order), pad.gather(1, order)


def require_separable(encoder: object, modality: str) -> SeparableEncoder:
    """Return ``encoder`` if it is a :class:`SeparableEncoder`, else raise ``TypeError``.

    For builders of :class:`MidFusion` (and PSE fusion), which need each modality's spatial
    encoder on its own: use ``require_separable(enc, m).spatial``.
    """
    if not isinstance(encoder, SeparableEncoder):
        raise TypeError(
            f"modality {modality!r}: mid fusion needs an encoder with separate spatial and "
            "temporal parts (a SeparableEncoder such as PSE + L-TAE); U-TAE's are intertwined "
            f"(seed 001 Sec. 3.4). Got {type(encoder).__name__}; use early, late or decision "
            "fusion with it instead."
        )
    return encoder


def auxiliary_loss(
    output: FusionOutput,
    target: Tensor,
    criterion: Callable[[Tensor, Tensor], Tensor],
    weights: Mapping[str, float] | float = 0.5,
) -> Tensor:
    """Auxiliary loss ``Σ_m λ_m criterion(aux_m, target)`` (seed 001 eq. 7).

    Args:
        output: a model's output; its ``aux`` holds the per-modality logits ``[B, K, *]``.
        target: what ``criterion`` compares them with (``[B]`` labels, ``[B, H, W]`` maps).
        criterion: e.g. ``torch.nn.CrossEntropyLoss()``, returning a scalar.
        weights: λ for every modality (seed 001 Sec. 4.2: 0.5), or ``{modality: λ}`` covering
            every modality of ``output.aux`` (extra keys are ignored).

    Returns:
        A scalar tensor, 0 when ``output.aux`` is empty. The total loss is
        ``criterion(output.logits, target) + auxiliary_loss(...)`` (seed 001 eq. 6-7).
    """
    total = output.logits.new_zeros(())
    for modality, logits in output.aux.items():
        if isinstance(weights, Mapping):
            if modality not in weights:
                raise ValueError(
                    f"auxiliary_loss: no weight for modality {modality!r}; weights cover "
                    f"{list(weights)}, the auxiliary outputs are {list(output.aux)}"
                )
            weight = float(weights[modality])
        else:
            weight = float(weights)
        if weight != 0.0:
            total = total + weight * criterion(logits, target)
    return total


class _Fusion(nn.Module):
    """Common parts: the modalities read, in order, and batch access."""

    scheme: str = "fusion"

    def __init__(self, modalities: Sequence[str]) -> None:
        super().__init__()
        self.modalities: tuple[str, ...] = tuple(modalities)

    @property
    def has_aux(self) -> bool:
        """Whether ``forward`` fills ``FusionOutput.aux``."""
        return False

    def _inputs(self, batch: BatchLike) -> dict[str, PaddedSeries]:
        return _inputs(batch, self.modalities, self.scheme)


# --------------------------------------------------------------------------------------------
# early fusion
# --------------------------------------------------------------------------------------------


class EarlyFusion(_Fusion):
    """Early fusion: channels of all modalities concatenated per date (seed 001 eq. 1-2).

    ``X† = merge^(C)(X^m)``: the modalities' ``values [B, T, C_m, *]`` are concatenated along
    C, in the order of ``modalities``, into ``[B, T, ΣC_m, *]``; one spatio-temporal encoder
    maps it to ``[B, D, *]`` and the decoder to ``[B, K, *]``. The valid masks are combined
    with AND (a ``[B, T]`` mask is broadcast over the pixels of a ``[B, T, *]`` one).

    The modalities must already be on the same dates (equal ``dates`` on real dates and equal
    ``pad_mask``): resample S1 onto the S2 dates in the data pipeline
    (``sitsfusion.data.transforms.resample`` or ``PASTIS(resample={"S1A": "S2", ...})``);
    otherwise ``forward`` raises ``ValueError``. With one modality this is a single-modality
    model. Auxiliary supervision is refused (seed 001 Sec. 3.2: it would duplicate the
    whole network and cannot change the result).

    Args:
        encoder: :class:`~sitsfusion.models.base.SpatioTemporalEncoder` taking ``ΣC_m``
            channels, ``PaddedSeries -> [B, D, *]``.
        decoder: ``[B, D, *] -> [B, K, *]``.
        modalities: the modalities to concatenate, in channel order (e.g. ``["S2", "S1A",
            "S1D"]``).
        aux_decoders: must be None or empty (accepted only to refuse it with a clear message).
    """

    scheme = "early fusion"

    def __init__(
        self,
        encoder: SpatioTemporalEncoder,
        decoder: nn.Module,
        modalities: Sequence[str],
        aux_decoders: Mapping[str, nn.Module] | None = None,
    ) -> None:
        if isinstance(modalities, str):
            modalities = [modalities]
        if len(modalities) == 0 or len(set(modalities)) != len(modalities):
            raise ValueError(
                f"early fusion: modalities must be distinct names, got {list(modalities)}"
            )
        if aux_decoders:
            raise ValueError(
                "early fusion has no auxiliary supervision: a single-modality prediction would "
                "need a duplicate of the whole network, and its gradients would not reach the "
                "fused model (seed 001 Sec. 3.2); leave aux_decoders out, or use late, mid or "
                "decision fusion"
            )
        super().__init__(modalities)
        if not isinstance(encoder, nn.Module) or not isinstance(decoder, nn.Module):
            raise TypeError("early fusion: encoder and decoder must be torch.nn.Modules")
        self.encoder = encoder
        self.decoder = decoder

    def merge_inputs(self, batch: BatchLike) -> PaddedSeries:
        """The fused input ``X†``: ``values [B, T, ΣC_m, *]``, shared dates and pad_mask."""
        series = self._inputs(batch)
        ref = _check_aligned(series, self.scheme, same_spatial=True)
        parts = list(series.values())
        if len(parts) == 1:
            return ref
        values = torch.cat([s.values for s in parts], dim=2)
        return PaddedSeries(values, ref.dates, ref.pad_mask, _and_masks(parts))

    def forward(self, batch: BatchLike) -> FusionOutput:
        """``batch`` -> ``FusionOutput(logits [B, K, *], aux={})``."""
        embedding = self.encoder(self.merge_inputs(batch))
        return FusionOutput(self.decoder(embedding), {})


# --------------------------------------------------------------------------------------------
# mid fusion
# --------------------------------------------------------------------------------------------


class MidFusion(_Fusion):
    """Mid fusion: a spatial encoder per modality, one shared temporal encoder, one decoder.

    Each modality's ``values [B, T_m, C_m, *]`` (with its per-pixel valid mask when it has
    one, as :meth:`SeparableEncoder.encode_dates`) go through its own spatial encoder to
    ``[B, T_m, F_m]``; the per-date features are merged, the temporal encoder maps them to
    ``[B, D]`` and the decoder to ``[B, K]``:

    * ``merge="time"`` (seed 001 eq. 5, "mid fusion"): the sequences are stacked along time
      into one sequence of ``L = Σ_m T_m`` dates, sorted by date per sample with padded dates
      last (:func:`merge_by_date`); all ``F_m`` must be equal. Modalities keep their own
      dates (no resampling).
    * ``merge="channels"`` (seed 000's "PSE fusion"): per-date features concatenated along
      channels to ``[B, T, ΣF_m]``; the modalities must share dates, as for early fusion, and
      the temporal encoder takes ``ΣF_m`` channels.

    Auxiliary supervision (seed 001 Sec. 3.2, eq. 7), enabled by ``aux_decoders``: the
    prediction of modality m is ``aux_decoders[m](temporal_m(spatial_m features, own dates,
    own pad_mask))`` where ``temporal_m`` is

    * ``aux_temporal="shared"`` (default): the shared temporal encoder itself, applied to the
      modality's own sequence. Only the aux decoders are added, which is what seed 001
      Table 1's counts imply (mid fusion 152k, 185k with aux: +33k, three ~11k decoders); the
      shared temporal encoder then also receives the auxiliary gradients. Needs
      ``merge="time"`` (with ``"channels"`` the temporal encoder takes ``ΣF_m`` channels).
    * ``aux_temporal="separate"``: ``aux_temporal_encoders[m]``, a temporal encoder of its
      own, as seed 001's text says ("we must add M temporal encoders"); then only the spatial
      encoders receive both the main and the auxiliary gradients.

    Args:
        spatial: ``{modality: SpatialEncoder}`` (``[B, T, C, *], valid -> [B, T, F]``); its
            order is the merge order (ties of equal dates, channel order).
        temporal: :class:`~sitsfusion.models.base.TemporalEncoder` ``[B, L, F] -> [B, D]``.
        decoder: ``[B, D] -> [B, K]``.
        merge: ``"time"`` or ``"channels"``.
        aux_decoders: ``{modality: decoder}`` for auxiliary supervision (any subset of the
            modalities), or None.
        aux_temporal: ``"shared"`` or ``"separate"`` (see above).
        aux_temporal_encoders: with ``"separate"``, ``{modality: TemporalEncoder}`` for exactly
            the modalities of ``aux_decoders``.
    """

    scheme = "mid fusion"

    def __init__(
        self,
        spatial: Mapping[str, SpatialEncoder],
        temporal: TemporalEncoder,
        decoder: nn.Module,
        merge: MergeMode = "time",
        aux_decoders: Mapping[str, nn.Module] | None = None,
        aux_temporal: AuxTemporal = "shared",
        aux_temporal_encoders: Mapping[str, TemporalEncoder] | None = None,
    ) -> None:
        if merge not in ("time", "channels"):
            raise ValueError(f"mid fusion: merge must be 'time' or 'channels', got {merge!r}")
        if aux_temporal not in ("shared", "separate"):
            raise ValueError(
                f"mid fusion: aux_temporal must be 'shared' or 'separate', got {aux_temporal!r}"
            )
        spatial_dict = _module_dict(spatial, "spatial", self.scheme)
        super().__init__(list(spatial_dict))
        widths = {m: int(getattr(enc, "out_channels", -1)) for m, enc in spatial_dict.items()}
        if any(f < 1 for f in widths.values()):
            raise ValueError(
                f"mid fusion: every spatial encoder needs an `out_channels` (F), got {widths}"
            )
        if merge == "time" and len(set(widths.values())) > 1:
            raise ValueError(
                f"mid fusion with merge='time' stacks the per-date features of all modalities "
                f"in one sequence, so their spatial encoders must give the same F; got {widths}. "
                "Give them the same output width, or use merge='channels' (dates aligned)."
            )
        expected = sum(widths.values()) if merge == "channels" else next(iter(widths.values()))
        t_in = getattr(temporal, "in_channels", None)
        if t_in is not None and int(t_in) != expected:
            raise ValueError(
                f"mid fusion (merge={merge!r}): the temporal encoder takes {int(t_in)} channels "
                f"but the merged features have {expected} (spatial widths {widths})"
            )
        if not isinstance(temporal, nn.Module) or not isinstance(decoder, nn.Module):
            raise TypeError("mid fusion: temporal and decoder must be torch.nn.Modules")
        self.merge: MergeMode = merge
        self.spatial = spatial_dict
        self.temporal = temporal
        self.decoder = decoder

        aux = dict(aux_decoders or {})
        _check_aux_keys(aux, self.modalities, self.scheme)
        if aux_temporal_encoders is not None and aux_temporal == "shared":
            raise ValueError(
                "mid fusion: aux_temporal_encoders are only used with aux_temporal='separate'"
            )
        separate: dict[str, TemporalEncoder] = {}
        if aux and aux_temporal == "shared" and merge == "channels" and len(widths) > 1:
            raise ValueError(
                "mid fusion with merge='channels': the shared temporal encoder takes the "
                f"concatenated {expected} channels and cannot encode one modality alone; use "
                "aux_temporal='separate' with aux_temporal_encoders for auxiliary supervision"
            )
        if aux_temporal == "separate" and aux:
            separate = dict(aux_temporal_encoders or {})
            if set(separate) != set(aux):
                raise ValueError(
                    "mid fusion with aux_temporal='separate' needs one temporal encoder per "
                    f"auxiliary decoder: aux_decoders cover {list(aux)}, aux_temporal_encoders "
                    f"cover {list(separate)}"
                )
        elif aux_temporal_encoders:
            raise ValueError("mid fusion: aux_temporal_encoders given without aux_decoders")
        self.aux_temporal_mode: AuxTemporal = aux_temporal
        self.aux_decoders = (
            _module_dict(aux, "aux_decoders", self.scheme) if aux else nn.ModuleDict()
        )
        self.aux_temporal_encoders = (
            _module_dict({m: separate[m] for m in aux}, "aux_temporal_encoders", self.scheme)
            if separate
            else nn.ModuleDict()
        )

    @property
    def has_aux(self) -> bool:
        return len(self.aux_decoders) > 0

    def encode_dates(self, batch: BatchLike) -> dict[str, Tensor]:
        """Per-modality spatial features ``{modality: [B, T_m, F_m]}``."""
        series = self._inputs(batch)
        if self.merge == "channels":
            _check_aligned(series, "mid fusion with merge='channels'", same_spatial=False)
        return {m: self.spatial[m](s.values, _dense_valid(s)) for m, s in series.items()}

    def _merge(
        self, features: Mapping[str, Tensor], series: Mapping[str, PaddedSeries]
    ) -> tuple[Tensor, Tensor, Tensor]:
        if self.merge == "channels":
            ref = series[self.modalities[0]]
            x = torch.cat([features[m] for m in self.modalities], dim=2)
            return x, ref.dates, ref.pad_mask
        return merge_by_date(
            [features[m] for m in self.modalities],
            [series[m].dates for m in self.modalities],
            [series[m].pad_mask for m in self.modalities],
        )

    def merged_sequence(self, batch: BatchLike) -> tuple[Tensor, Tensor, Tensor]:
        """The temporal encoder's input ``(x [B, L, F'], dates [B, L], pad_mask [B, L])``.

        ``L = Σ_m T_m`` and ``F' = F`` for ``merge="time"``; ``L = T`` and ``F' = ΣF_m`` for
        ``merge="channels"``.
        """
        return self._merge(self.encode_dates(batch), self._inputs(batch))

    def forward(self, batch: BatchLike) -> FusionOutput:
        """``batch`` -> ``FusionOutput(logits [B, K], aux={m: [B, K]})``."""
        series = self._inputs(batch)
        features = self.encode_dates(series)
        x, dates, pad_mask = self._merge(features, series)
        logits = self.decoder(self.temporal(x, dates, pad_mask))
        aux: dict[str, Tensor] = {}
        for m, aux_decoder in self.aux_decoders.items():
            temporal = (
                self.aux_temporal_encoders[m]
                if self.aux_temporal_mode == "separate"
                else self.temporal
            )
            aux[m] = aux_decoder(temporal(features[m], series[m].dates, series[m].pad_mask))
        return FusionOutput(logits, aux)


# --------------------------------------------------------------------------------------------
# late fusion
# --------------------------------------------------------------------------------------------


class LateFusion(_Fusion):
    """Late feature fusion: an encoder per modality, embeddings concatenated, one decoder.

    ``y = D(merge^(C)(E^m(X^m)))`` (seed 001 eq. 3; seed 000's "TAE fusion"): each modality's
    spatio-temporal encoder gives ``[B, D_m, *]`` on its own dates; the embeddings are
    concatenated along dim 1, in the mapping's order, into ``[B, ΣD_m, *]`` and decoded to
    ``[B, K, *]``. Auxiliary supervision adds one decoder per modality on that modality's
    embedding (seed 001 Sec. 3.2).

    Args:
        encoders: ``{modality: SpatioTemporalEncoder}`` (``PaddedSeries -> [B, D_m, *]``).
        decoder: ``[B, ΣD_m, *] -> [B, K, *]``.
        aux_decoders: ``{modality: [B, D_m, *] -> [B, K, *]}`` (any subset), or None.

    Attributes:
        embedding_channels: ``ΣD_m``, the decoder's input width (None when an encoder has no
            ``out_channels``).
    """

    scheme = "late fusion"

    def __init__(
        self,
        encoders: Mapping[str, SpatioTemporalEncoder],
        decoder: nn.Module,
        aux_decoders: Mapping[str, nn.Module] | None = None,
    ) -> None:
        encoder_dict = _module_dict(encoders, "encoders", self.scheme)
        super().__init__(list(encoder_dict))
        if not isinstance(decoder, nn.Module):
            raise TypeError("late fusion: decoder must be a torch.nn.Module")
        self.encoders = encoder_dict
        self.decoder = decoder
        aux = dict(aux_decoders or {})
        _check_aux_keys(aux, self.modalities, self.scheme)
        self.aux_decoders = (
            _module_dict(aux, "aux_decoders", self.scheme) if aux else nn.ModuleDict()
        )
        widths = [getattr(e, "out_channels", None) for e in encoder_dict.values()]
        self.embedding_channels: int | None = (
            sum(int(w) for w in widths) if all(w is not None for w in widths) else None
        )

    @property
    def has_aux(self) -> bool:
        return len(self.aux_decoders) > 0

    def encode(self, batch: BatchLike) -> dict[str, Tensor]:
        """Per-modality embeddings ``{modality: [B, D_m, *]}``."""
        return {m: self.encoders[m](s) for m, s in self._inputs(batch).items()}

    def forward(self, batch: BatchLike) -> FusionOutput:
        """``batch`` -> ``FusionOutput(logits [B, K, *], aux={m: [B, K, *]})``."""
        embeddings = self.encode(batch)
        logits = self.decoder(_concat_channels(embeddings, self.scheme))
        aux = {m: dec(embeddings[m]) for m, dec in self.aux_decoders.items()}
        return FusionOutput(logits, aux)


# --------------------------------------------------------------------------------------------
# decision fusion
# --------------------------------------------------------------------------------------------


class DecisionFusion(_Fusion):
    """Decision fusion: a full model per modality, predictions combined (seed 001 eq. 4).

    Modality m's logits are ``decoders[m](encoders[m](X^m))``, ``[B, K, *]``, each model with
    its own decoder (CropTypeMapping shares one decoder between the sensors; not here). Their
    class distributions ``p_m = softmax(logits_m, dim=1)`` are combined by ``rule``:

    * ``"mean"``: ``p = (1/M) Σ_m p_m``, the average of probabilities (seed 001 eq. 4; seed
      000 Sec. 4.2, its retained choice);
    * ``"product"``: product of experts, ``p ∝ Π_m p_m``, i.e.
      ``softmax(Σ_m log_softmax(logits_m))`` (seed 000 Sec. 4.2, after its ref. [56]).

    ``FusionOutput.logits`` are ``log p``, the fused **log-probabilities** ``[B, K, *]``:
    ``softmax(logits, 1) == p``, ``argmax`` is the fused decision, and
    ``cross_entropy(logits, y)`` equals ``nll_loss(logits, y)``, the negative log-likelihood
    of the fused prediction (log_softmax is idempotent). With ``aux=True``, ``aux`` holds each
    modality's own raw logits (no extra module; seed 001 Sec. 3.2).

    Args:
        encoders: ``{modality: SpatioTemporalEncoder}``, order = modality order.
        decoders: ``{modality: decoder}`` for the same modalities, distinct modules.
        rule: ``"mean"`` or ``"product"``.
        aux: return the per-modality logits for auxiliary supervision.
    """

    scheme = "decision fusion"

    def __init__(
        self,
        encoders: Mapping[str, SpatioTemporalEncoder],
        decoders: Mapping[str, nn.Module],
        rule: DecisionRule = "mean",
        aux: bool = False,
    ) -> None:
        if rule not in ("mean", "product"):
            raise ValueError(f"decision fusion: rule must be 'mean' or 'product', got {rule!r}")
        encoder_dict = _module_dict(encoders, "encoders", self.scheme)
        decoder_dict = _module_dict(decoders, "decoders", self.scheme)
        if set(encoder_dict) != set(decoder_dict):
            raise ValueError(
                "decision fusion needs one encoder and one decoder per modality; encoders "
                f"cover {list(encoder_dict)}, decoders cover {list(decoder_dict)}"
            )
        seen: dict[int, str] = {}
        for m, dec in decoder_dict.items():
            if id(dec) in seen:
                raise ValueError(
                    f"decision fusion: the same decoder module is given for {seen[id(dec)]!r} "
                    f"and {m!r}; each modality needs its own decoder (a shared one is a flaw "
                    "of CropTypeMapping's implementation, not the scheme of seed 000 / 001)"
                )
            seen[id(dec)] = m
        super().__init__(list(encoder_dict))
        self.rule: DecisionRule = rule
        self.aux = bool(aux)
        self.encoders = encoder_dict
        self.decoders = nn.ModuleDict({m: decoder_dict[m] for m in self.modalities})

    @property
    def has_aux(self) -> bool:
        return self.aux

    def modality_logits(self, batch: BatchLike) -> dict[str, Tensor]:
        """Each modality's own prediction ``{modality: [B, K, *] logits}``."""
        return {m: self.decoders[m](self.encoders[m](s)) for m, s in self._inputs(batch).items()}

    def combine(self, logits: Mapping[str, Tensor]) -> Tensor:
        """Fuse per-modality logits ``[B, K, *]`` into log-probabilities ``[B, K, *]``."""
        shapes = {m: tuple(t.shape) for m, t in logits.items()}
        if len(set(shapes.values())) > 1:
            raise ValueError(
                f"decision fusion: the modalities' predictions differ in shape {shapes}; "
                "every decoder must give [B, K, *] with the same K"
            )
        log_p = torch.stack([torch.log_softmax(t, dim=1) for t in logits.values()])
        if self.rule == "mean":
            return torch.logsumexp(log_p, dim=0) - math.log(len(logits))
        return torch.log_softmax(log_p.sum(dim=0), dim=1)

    def forward(self, batch: BatchLike) -> FusionOutput:
        """``batch`` -> ``FusionOutput(logits = fused log-probs [B, K, *], aux)``."""
        per_modality = self.modality_logits(batch)
        fused = self.combine(per_modality)
        return FusionOutput(fused, dict(per_modality) if self.aux else {})
