"""PaPs (Parcels-as-Points): the panoptic head of U-TAE (Garnot & Landrieu 2021).

Seed 001 (Garnot et al. 2021), Sec. 3.4 "Panoptic segmentation" and Sec. 4.5: U-TAE encodes the
time series and PaPs turns its decoder maps into non-overlapping parcel masks with a crop type
each. The architecture and defaults are those of the reference ``utae-paps:src/panoptic/paps.py``
(anchors-code §2.6; 172,413 parameters with 32 / 256 input widths and 20 classes), written
anew here:

* **heatmap** (centerness): 3×3 conv ``D → 32`` + BN + ReLU, 3×3 conv ``32 → 1`` + BN, sigmoid;
* **saliency**: the same two convs (with the final BN), no sigmoid;
* **centres**: in training, given the ground-truth ``zones`` (each pixel's closest parcel), the
  heatmap's arg-max in every zone — at most one centre per parcel; at inference, the heatmap's
  local maxima (3×3 max-pool) above the image's mean heatmap;
* **centre features**: every decoder map read at the centre's position integer-divided by the
  map's downsampling factor, concatenated (``32 + 32 + 64 + 128 = 256`` for U-TAE);
* per centre, three MLPs: **shape** ``Σ → Σ/2`` (BN, ReLU) ``→ S²`` logits, **size**
  ``Σ → Σ/2 → Σ/4 → 2`` (BN + ReLU, Softplus: height and width in pixels), **class**
  ``Σ → Σ/2`` (BN, ReLU) ``→ Σ/4 → K`` (no non-linearity between the last two);
* **masks**: a box of the rounded predicted size around the centre (at least 1 px, clipped to
  the image), the ``S × S`` shape logits bilinearly resized to the box plus the saliency crop,
  then ``sigmoid(s) · sigmoid(CNN(s))`` (``mask_conv``; CNN 1→16 (GroupNorm, 1 group, ReLU)
  →16 (ReLU) →1, 3×3 convs) or ``sigmoid(shape) · sigmoid(saliency)``;
* **pseudo-NMS**: per image, centres by decreasing heatmap value down to ``min_confidence``;
  a mask (binarised at ``mask_threshold``) is kept if more than ``min_remain`` of its pixels are
  still free, and gets those pixels.

Differences from the reference (documented in ``docs/panoptic.md``):

* the head takes the encoder's features (no encoder inside);
* batch size 1 works (the reference squeezes the batch dimension away and crashes), and so do
  one or zero centres in training (BatchNorm1d then uses its running statistics);
* centre extraction uses ``Tensor.scatter_reduce`` (no ``torch_scatter``); zone 0 means "no
  parcel" and gets no centre (the reference also picks a centre in zone 0);
* the inference threshold is each image's mean heatmap (the reference: the batch's mean);
* the masks are assembled for all centres at once (``grid_sample`` onto padded canvases, with
  the mask CNN's zero padding and GroupNorm restricted to each box) instead of one at a time —
  same values as resizing and convolving each crop separately (tested);
* the pseudo-NMS runs all images of the batch in lock-step; instance ids are consecutive per
  image (1, 2, ...), and ``panoptic_semantic`` holds class probabilities (the reference: raw
  logits) with a one-hot background where no instance was kept (the reference: zeros);
* the downsampling factor of each map is read from its shape (the reference assumes ×2 per
  level); boxes are clipped with the image's own height and width (the reference clips the
  width with the height).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from sitsfusion.models.spatiotemporal.utae import UTAEFeatures

__all__ = [
    "MaskAssembly",
    "PaPs",
    "PaPsOutput",
    "extract_centres",
    "pseudo_nms",
]


@dataclass
class MaskAssembly:
    """Instance masks of ``N`` centres, stored as the pixels of their (clipped) boxes.

    Centre ``n``'s mask is ``values[offsets[n]:offsets[n + 1]]``, the row-major pixels of its
    box ``boxes[n]``; :meth:`mask` reshapes it to ``[h_n, w_n]``.

    Attributes:
        values: ``[P]`` mask probabilities in ``(0, 1)`` (``P = Σ_n h_n · w_n``).
        index: long ``[P]``, the centre each pixel belongs to (non-decreasing).
        pixel: long ``[P]``, the pixel's flat index into ``[B, H, W]`` (``(b·H + y)·W + x``).
        offsets: long ``[N + 1]``, start of each centre's pixels in ``values``.
        boxes: long ``[N, 4]``, ``(top, left, bottom, right)`` clipped to the image, bottom /
            right exclusive.
    """

    values: Tensor
    index: Tensor
    pixel: Tensor
    offsets: Tensor
    boxes: Tensor

    def mask(self, n: int) -> Tensor:
        """Centre ``n``'s mask ``[h_n, w_n]`` (``h_n = bottom − top``, ``w_n = right − left``)."""
        top, left, bottom, right = (int(v) for v in self.boxes[n])
        start, stop = int(self.offsets[n]), int(self.offsets[n + 1])
        return self.values[start:stop].view(bottom - top, right - left)


@dataclass
class PaPsOutput:
    """What :meth:`PaPs.forward` returns (``N`` centres in the batch; ``None``: not computed).

    Attributes:
        heatmap: ``[B, 1, H, W]`` predicted centerness in ``(0, 1)``.
        centre_mask: bool ``[B, H, W]``, True at the ``N`` centres.
        centre_batch: long ``[N]`` the centres' sample, in ``torch.nonzero(centre_mask)`` order.
        centre_pos: long ``[N, 2]`` the centres' ``(y, x)``.
        confidence: ``[N]`` heatmap value at each centre.
        saliency: ``[B, 1, H, W]`` saliency logits (``None`` with ``heatmap_only``).
        semantic: ``[N, K]`` class logits per centre.
        size: ``[N, 2]`` predicted ``(height, width)`` in pixels per centre.
        shape: ``[N, S, S]`` shape logits per centre.
        masks: the assembled instance masks (:class:`MaskAssembly`, boxes included).
        panoptic_instance: long ``[B, H, W]``, instance id per pixel (0 = none; ids 1, 2, ...
            per image in acceptance order). ``None`` without ``pseudo_nms``.
        panoptic_semantic: ``[B, K, H, W]`` class probabilities of the pixel's instance; one-hot
            on ``background_class`` where there is none (zeros if ``background_class`` is
            None).
        kept_ids: long ``[N]``, the panoptic id each centre got (0: rejected / below
            ``min_confidence``).
    """

    heatmap: Tensor
    centre_mask: Tensor
    centre_batch: Tensor
    centre_pos: Tensor
    confidence: Tensor
    saliency: Tensor | None = None
    semantic: Tensor | None = None
    size: Tensor | None = None
    shape: Tensor | None = None
    masks: MaskAssembly | None = None
    panoptic_instance: Tensor | None = None
    panoptic_semantic: Tensor | None = None
    kept_ids: Tensor | None = None


def extract_centres(heatmap: Tensor, zones: Tensor | None = None) -> Tensor:
    """Centre pixels of a centerness heatmap: bool ``[B, H, W]``.

    Args:
        heatmap: ``[B, 1, H, W]`` or ``[B, H, W]``.
        zones: long ``[B, H, W]`` ground-truth zones (0 = no parcel). Given: one centre per
            non-zero zone of each image, at the zone's heatmap arg-max (ties: the first pixel in
            row-major order). None: every local maximum of a 3×3 max-pool whose value is above
            the image's mean heatmap.
    """
    hm = heatmap.detach()
    if hm.ndim == 4:
        hm = hm[:, 0]
    if hm.ndim != 3:
        raise ValueError(f"heatmap must be [B, 1, H, W] or [B, H, W], got {tuple(heatmap.shape)}")
    b, h, w = hm.shape
    if zones is None:
        peak = F.max_pool2d(hm.unsqueeze(1), 3, stride=1, padding=1).squeeze(1)
        mean = hm.mean(dim=(1, 2), keepdim=True)
        return (hm == peak) & (hm > mean)
    if tuple(zones.shape) != (b, h, w):
        raise ValueError(f"zones must be [B, H, W] = {(b, h, w)}, got {tuple(zones.shape)}")
    flat_zone = zones.reshape(-1).long()
    flat_hm = hm.reshape(-1)
    pix = torch.arange(flat_zone.numel(), device=hm.device)
    inside = flat_zone > 0
    mask = torch.zeros(b * h * w, dtype=torch.bool, device=hm.device)
    if not bool(inside.any()):
        return mask.view(b, h, w)
    # One key per (image, zone): sort-based compression, whatever the zone ids are.
    key = (pix // (h * w)) * (int(flat_zone.max()) + 1) + flat_zone
    _, inv = torch.unique(key[inside], return_inverse=True)
    n_keys = int(inv.max()) + 1
    vals, where = flat_hm[inside], pix[inside]
    best = vals.new_full((n_keys,), float("-inf")).scatter_reduce(0, inv, vals, "amax")
    hit = vals == best[inv]
    first = torch.full((n_keys,), b * h * w, dtype=torch.long, device=hm.device)
    first = first.scatter_reduce(0, inv[hit], where[hit], "amin")
    mask[first[first < b * h * w]] = True
    return mask.view(b, h, w)


def _ranges(offsets: Tensor, sel: Tensor) -> tuple[Tensor, Tensor]:
    """Concatenated ``arange(offsets[c], offsets[c + 1])`` for ``c`` in ``sel`` → (positions,
    owner: index into ``sel`` of each position)."""
    counts = offsets[sel + 1] - offsets[sel]
    owner = torch.repeat_interleave(torch.arange(sel.numel(), device=sel.device), counts)
    starts = torch.repeat_interleave(offsets[sel], counts)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    pos = starts + torch.arange(owner.numel(), device=sel.device) - first
    return pos, owner


@torch.no_grad()
def pseudo_nms(
    confidence: Tensor,
    centre_batch: Tensor,
    mask_values: Tensor,
    mask_index: Tensor,
    mask_pixel: Tensor,
    class_scores: Tensor,
    size: Sequence[int],
    min_confidence: float = 0.2,
    min_remain: float = 0.5,
    mask_threshold: float = 0.4,
    background_class: int | None = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """PaPs' pseudo non-maximum suppression: overlapping instance masks → a panoptic map.

    Per image, centres are visited by decreasing ``confidence`` (stable order) while it is at
    least ``min_confidence``. A centre's mask, binarised at ``> mask_threshold``, is kept if it
    has at least one pixel and either overlaps nothing kept so far or more than ``min_remain``
    of its pixels are still free; it then gets the free ones. All images advance in lock-step
    (one step per rank), so the Python loop runs over ranks, not pixels or images.

    Args:
        confidence: ``[N]``. centre_batch: long ``[N]`` sample of each centre.
        mask_values, mask_index, mask_pixel: ``[P]`` the masks' pixels (:class:`MaskAssembly`
            fields; any order).
        class_scores: ``[N, K]`` scores written on the kept instances' pixels.
        size: ``(B, H, W)``.
        background_class: class whose score is 1 where no instance is kept (None: all 0).

    Returns:
        ``panoptic_instance`` long ``[B, H, W]`` (0 = none; 1, 2, ... per image),
        ``panoptic_semantic [B, K, H, W]``, ``kept_ids`` long ``[N]`` (0 = not kept).
    """
    b, h, w = (int(v) for v in size)
    n, k = class_scores.shape
    device = class_scores.device
    owner_map = torch.zeros(b * h * w, dtype=torch.long, device=device)  # centre index + 1
    ids = torch.zeros(b * h * w, dtype=torch.long, device=device)
    kept = torch.zeros(n, dtype=torch.long, device=device)
    cand = confidence.detach() >= min_confidence
    if n and bool(cand.any()):
        order = torch.argsort(mask_index, stable=True)
        values, pixel = mask_values.detach()[order], mask_pixel[order]
        counts = torch.bincount(mask_index, minlength=n)
        offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        on_all = values > mask_threshold
        # Candidates grouped by image, by decreasing confidence inside an image.
        cidx = cand.nonzero().squeeze(1)
        by_conf = cidx[torch.argsort(confidence.detach()[cidx], descending=True, stable=True)]
        grouped = by_conf[torch.argsort(centre_batch[by_conf], stable=True)]
        per_image = torch.bincount(centre_batch[grouped], minlength=b)
        start = torch.cumsum(per_image, 0) - per_image
        rank = torch.arange(grouped.numel(), device=device) - start[centre_batch[grouped]]
        next_id = torch.ones(b, dtype=torch.long, device=device)
        for step in range(int(per_image.max())):
            sel = grouped[rank == step]  # at most one centre per image
            pos, own = _ranges(offsets, sel)
            pix, on = pixel[pos], on_all[pos]
            free = on & (ids[pix] == 0)
            n_on = torch.bincount(own, weights=on.float(), minlength=sel.numel())
            n_free = torch.bincount(own, weights=free.float(), minlength=sel.numel())
            ok = (n_on > 0) & ((n_free == n_on) | (n_free > min_remain * n_on))
            new_id = next_id[centre_batch[sel]]
            take = free & ok[own]
            ids[pix[take]] = new_id[own[take]]
            owner_map[pix[take]] = sel[own[take]] + 1
            kept[sel[ok]] = new_id[ok]
            next_id.index_add_(0, centre_batch[sel], ok.long())
    sem = class_scores.new_zeros(b * h * w, k)
    has = owner_map > 0
    sem[has] = class_scores.detach()[owner_map[has] - 1]
    if background_class is not None:
        sem[~has, background_class] = 1.0
    return ids.view(b, h, w), sem.view(b, h, w, k).permute(0, 3, 1, 2), kept


_pseudo_nms = pseudo_nms  # ``PaPs.forward``'s ``pseudo_nms`` argument shadows the name


def _conv_bn(c_in: int, c_out: int, padding_mode: str) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode=padding_mode), nn.BatchNorm2d(c_out)]


def _run_mlp(mlp: nn.Sequential, x: Tensor) -> Tensor:
    """``mlp(x)``, with BatchNorm1d on its running statistics when fewer than 2 rows are given in
    training mode (BatchNorm1d cannot normalise a single centre)."""
    for m in mlp:
        if isinstance(m, nn.BatchNorm1d) and m.training and x.shape[0] < 2:
            x = F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)
        else:
            x = m(x)
    return x


class PaPs(nn.Module):
    """Parcels-as-Points panoptic head on U-TAE-like features (seed 001 Sec. 3.4; Garnot &
    Landrieu 2021; ``utae-paps:src/panoptic/paps.py``).

    ``forward(features)`` with ``features.out [B, enc_dim, H, W]`` and ``features.maps`` the
    decoder maps from the lowest resolution to the full one (their widths sum to
    ``stack_dim``; each map's height and width divide ``H`` and ``W``).

    With the defaults (``enc_dim=32, stack_dim=256, num_classes=20``) the head has 172,413
    trainable parameters, as the reference's (anchors-code §2.6).

    Args:
        enc_dim: width of the full-resolution map (U-TAE: ``decoder_widths[0]``).
        stack_dim: sum of the decoder maps' widths (U-TAE: ``sum(decoder_widths)``).
        num_classes: ``K``, including the background (0) and void (19) classes of PASTIS.
        shape_size: ``S``, side of the predicted local shape.
        mask_conv: refine the masks with the small CNN (else ``sigmoid(shape)·sigmoid(sal)``).
        min_confidence: pseudo-NMS: centres below this heatmap value are dropped.
        min_remain: pseudo-NMS: fraction of a mask's pixels that must still be free.
        mask_threshold: pseudo-NMS: binarisation threshold of the masks.
        background_class: class of the pixels without instance in ``panoptic_semantic``
            (one-hot); None: zero scores there, as the reference.
        conv_width: hidden width of the heatmap / saliency convs (32 in the reference).
        padding_mode: padding of the heatmap / saliency convs (``"reflect"`` as the reference).
        canvas_pixels: the masks are assembled in groups of similar-size boxes whose padded
            canvases hold at most this many pixels (memory bound; a single larger box is still
            processed alone).
    """

    def __init__(
        self,
        enc_dim: int = 32,
        stack_dim: int = 256,
        num_classes: int = 20,
        shape_size: int = 16,
        mask_conv: bool = True,
        min_confidence: float = 0.2,
        min_remain: float = 0.5,
        mask_threshold: float = 0.4,
        *,
        background_class: int | None = 0,
        conv_width: int = 32,
        padding_mode: str = "reflect",
        canvas_pixels: int = 1 << 20,
    ) -> None:
        super().__init__()
        if background_class is not None and not 0 <= background_class < num_classes:
            raise ValueError(
                f"background_class must be in [0, {num_classes}), got {background_class}"
            )
        self.enc_dim, self.stack_dim = int(enc_dim), int(stack_dim)
        self.num_classes, self.shape_size = int(num_classes), int(shape_size)
        self.min_confidence, self.min_remain = float(min_confidence), float(min_remain)
        self.mask_threshold = float(mask_threshold)
        self.background_class = background_class
        self.canvas_pixels = int(canvas_pixels)
        cw = int(conv_width)
        self.heatmap_conv = nn.Sequential(
            *_conv_bn(enc_dim, cw, padding_mode),
            nn.ReLU(inplace=True),
            *_conv_bn(cw, 1, padding_mode),
            nn.Sigmoid(),
        )
        self.saliency_conv = nn.Sequential(
            *_conv_bn(enc_dim, cw, padding_mode),
            nn.ReLU(inplace=True),
            *_conv_bn(cw, 1, padding_mode),
        )
        half, quarter = stack_dim // 2, stack_dim // 4
        self.shape_mlp = nn.Sequential(
            nn.Linear(stack_dim, half),
            nn.BatchNorm1d(half),
            nn.ReLU(),
            nn.Linear(half, shape_size**2),
        )
        self.size_mlp = nn.Sequential(
            nn.Linear(stack_dim, half),
            nn.BatchNorm1d(half),
            nn.ReLU(),
            nn.Linear(half, quarter),
            nn.BatchNorm1d(quarter),
            nn.ReLU(),
            nn.Linear(quarter, 2),
            nn.Softplus(),
        )
        self.class_mlp = nn.Sequential(
            nn.Linear(stack_dim, half),
            nn.BatchNorm1d(half),
            nn.ReLU(),
            nn.Linear(half, quarter),
            nn.Linear(quarter, num_classes),
        )
        self.mask_cnn: nn.ModuleList | None = None
        if mask_conv:
            # conv1, GroupNorm(1 group), conv2, conv3 — run by ``_mask_cnn`` (masked per box).
            self.mask_cnn = nn.ModuleList(
                [
                    nn.Conv2d(1, 16, 3, padding=1),
                    nn.GroupNorm(1, 16),
                    nn.Conv2d(16, 16, 3, padding=1),
                    nn.Conv2d(16, 1, 3, padding=1),
                ]
            )

    # ------------------------------------------------------------------ parts
    def centre_features(
        self, maps: Sequence[Tensor], batch: Tensor, pos: Tensor, size: Sequence[int]
    ) -> Tensor:
        """``[N, stack_dim]``: every map read at ``pos // factor`` (factor from its shape).

        Args:
            maps: ``[B, C_i, H / f_i, W / g_i]``. batch: long ``[N]``. pos: long ``[N, 2]``
                ``(y, x)``. size: the full-resolution ``(H, W)``.
        """
        h, w = (int(v) for v in size)
        feats = []
        for m in maps:
            mh, mw = m.shape[-2:]
            if h % mh or w % mw:
                raise ValueError(f"PaPs: a decoder map of {mh}×{mw} does not divide {h}×{w}")
            feats.append(m[batch, :, pos[:, 0] // (h // mh), pos[:, 1] // (w // mw)])
        out = torch.cat(feats, dim=1)
        if out.shape[1] != self.stack_dim:
            raise ValueError(
                f"PaPs(stack_dim={self.stack_dim}) got decoder maps of total width {out.shape[1]}"
            )
        return out

    def boxes(self, pos: Tensor, size: Tensor, hw: Sequence[int]) -> tuple[Tensor, Tensor]:
        """Boxes of the rounded predicted sizes (≥ 1 px) around the centres.

        ``pos [N, 2]``, ``size [N, 2]`` → ``(full [N, 4], clipped [N, 4])``, both ``(top, left,
        bottom, right)`` with exclusive ends; ``full`` is ``pos − s // 2`` to ``pos + s // 2 +
        s % 2`` (``s = max(round(size), 1)``, so it holds the centre), ``clipped`` is it
        clipped to ``[0, H] × [0, W]``.
        """
        s = size.detach().round().clamp_min(1).long()
        start = pos - s // 2
        stop = pos + s // 2 + s % 2
        full = torch.cat([start, stop], dim=1)
        limit = torch.tensor([hw[0], hw[1]] * 2, device=pos.device)
        clipped = torch.minimum(full.clamp_min(0), limit)
        return full, clipped

    def _mask_cnn(self, x: Tensor, valid: Tensor) -> Tensor:
        """The mask CNN on ``x [n, 1, h, w]`` restricted to ``valid [n, 1, h, w]``: zeros outside
        each box (its zero padding) and GroupNorm statistics over the box only."""
        assert self.mask_cnn is not None
        conv1, norm, conv2, conv3 = self.mask_cnn
        v = valid.to(x.dtype)
        y = conv1(x * v)
        count = (v.sum(dim=(1, 2, 3)) * y.shape[1]).clamp_min(1).view(-1, 1, 1, 1)
        mean = (y * v).sum(dim=(1, 2, 3), keepdim=True) / count
        var = (((y - mean) * v) ** 2).sum(dim=(1, 2, 3), keepdim=True) / count
        y = (y - mean) * torch.rsqrt(var + norm.eps)
        y = y * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
        y = F.relu(y) * v
        y = F.relu(conv2(y)) * v
        return conv3(y)

    def assemble_masks(
        self, shape: Tensor, saliency: Tensor, batch: Tensor, full: Tensor, clipped: Tensor
    ) -> MaskAssembly:
        """Instance masks of all centres (see :class:`MaskAssembly`).

        Args:
            shape: ``[N, S, S]`` shape logits. saliency: ``[B, 1, H, W]``. batch: ``[N]``.
            full, clipped: the boxes of :meth:`boxes`.
        """
        n = shape.shape[0]
        _, _, h, w = saliency.shape
        device = shape.device
        bh, bw = full[:, 2] - full[:, 0], full[:, 3] - full[:, 1]  # box sizes (unclipped)
        ch, cw = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
        off_y, off_x = clipped[:, 0] - full[:, 0], clipped[:, 1] - full[:, 1]
        sal_flat = saliency.reshape(-1)
        # Groups of similar-size boxes, largest first, each within the canvas budget.
        area = (ch * cw).tolist()
        order = sorted(range(n), key=lambda i: -area[i])
        ch_l, cw_l = ch.tolist(), cw.tolist()
        groups: list[list[int]] = []
        gh = gw = 0
        for i in order:
            nh, nw = max(gh, ch_l[i]), max(gw, cw_l[i])
            if groups and (len(groups[-1]) + 1) * nh * nw <= self.canvas_pixels:
                groups[-1].append(i)
                gh, gw = nh, nw
            else:
                groups.append([i])
                gh, gw = ch_l[i], cw_l[i]
        values, index, pixel = [], [], []
        for g in groups:
            idx = torch.tensor(g, dtype=torch.long, device=device)
            hm, wm = int(ch[idx].max()), int(cw[idx].max())
            rows = torch.arange(hm, device=device).view(1, hm, 1)
            cols = torch.arange(wm, device=device).view(1, 1, wm)
            valid = (rows < ch[idx].view(-1, 1, 1)) & (cols < cw[idx].view(-1, 1, 1))
            # Bilinear resize of the S×S shape to the full box (align_corners=False, edges
            # clamped) = grid_sample at normalised coordinates 2(i + 0.5)/size − 1, border mode.
            gy = (2 * (rows + off_y[idx].view(-1, 1, 1)) + 1) / bh[idx].view(-1, 1, 1) - 1
            gx = (2 * (cols + off_x[idx].view(-1, 1, 1)) + 1) / bw[idx].view(-1, 1, 1) - 1
            grid = torch.stack(torch.broadcast_tensors(gx, gy), dim=-1).to(shape.dtype)
            resized = F.grid_sample(
                shape[idx].unsqueeze(1), grid, "bilinear", "border", align_corners=False
            )[:, 0]
            y = (clipped[idx, 0].view(-1, 1, 1) + rows).clamp_max(h - 1)
            x = (clipped[idx, 1].view(-1, 1, 1) + cols).clamp_max(w - 1)
            flat = (batch[idx].view(-1, 1, 1) * h + y) * w + x
            sal = sal_flat[flat]
            if self.mask_cnn is None:
                mask = torch.sigmoid(resized) * torch.sigmoid(sal)
            else:
                s = (resized + sal) * valid
                refine = self._mask_cnn(s.unsqueeze(1), valid.unsqueeze(1))[:, 0]
                mask = torch.sigmoid(s) * torch.sigmoid(refine)
            values.append(mask[valid])
            index.append(idx.view(-1, 1, 1).expand_as(valid)[valid])
            pixel.append(flat[valid])
        if groups:
            cat_index = torch.cat(index)
            order_t = torch.argsort(cat_index, stable=True)
            v, i_, p = torch.cat(values)[order_t], cat_index[order_t], torch.cat(pixel)[order_t]
        else:
            v = saliency.new_zeros(0)
            i_ = p = torch.zeros(0, dtype=torch.long, device=device)
        counts = (ch * cw).long()
        offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        return MaskAssembly(v, i_, p, offsets, clipped)

    # ---------------------------------------------------------------- forward
    def forward(
        self,
        features: UTAEFeatures | tuple[Tensor, Sequence[Tensor]],
        zones: Tensor | None = None,
        heatmap_only: bool = False,
        pseudo_nms: bool = True,
    ) -> PaPsOutput:
        """Panoptic prediction from the encoder's features.

        Args:
            features: a :class:`~sitsfusion.models.spatiotemporal.utae.UTAEFeatures` (or any
                object with ``out`` and ``maps``) or a pair ``(out [B, enc_dim, H, W], maps)``.
            zones: long ``[B, H, W]`` ground-truth zones (0 = none) → one centre per zone at the
                heatmap's arg-max (training); None → local maxima above the mean (inference).
            heatmap_only: stop after the heatmap and centres (warm-up of the centerness).
            pseudo_nms: build ``panoptic_instance`` / ``panoptic_semantic``.

        Returns:
            :class:`PaPsOutput`.
        """
        if hasattr(features, "out") and hasattr(features, "maps"):
            out, maps = features.out, list(features.maps)  # type: ignore[union-attr]
        else:
            out, seq = features  # type: ignore[misc]
            maps = list(seq)
        if out.ndim != 4 or out.shape[1] != self.enc_dim:
            raise ValueError(f"PaPs expects out [B, {self.enc_dim}, H, W], got {tuple(out.shape)}")
        b, _, h, w = out.shape
        heatmap = self.heatmap_conv(out)
        centre_mask = extract_centres(heatmap, zones)
        where = centre_mask.nonzero()
        batch, pos = where[:, 0], where[:, 1:]
        confidence = heatmap[batch, 0, pos[:, 0], pos[:, 1]]
        result = PaPsOutput(heatmap, centre_mask, batch, pos, confidence)
        if heatmap_only:
            return result
        result.saliency = saliency = self.saliency_conv(out)
        stack = self.centre_features(maps, batch, pos, (h, w))
        result.semantic = _run_mlp(self.class_mlp, stack)
        result.size = _run_mlp(self.size_mlp, stack)
        result.shape = _run_mlp(self.shape_mlp, stack).view(-1, self.shape_size, self.shape_size)
        full, clipped = self.boxes(pos, result.size, (h, w))
        result.masks = self.assemble_masks(result.shape, saliency, batch, full, clipped)
        if pseudo_nms:
            pano, sem, kept = _pseudo_nms(
                confidence,
                batch,
                result.masks.values,
                result.masks.index,
                result.masks.pixel,
                torch.softmax(result.semantic.detach().float(), dim=1),
                (b, h, w),
                self.min_confidence,
                self.min_remain,
                self.mask_threshold,
                self.background_class,
            )
            result.panoptic_instance, result.panoptic_semantic, result.kept_ids = pano, sem, kept
        return result
