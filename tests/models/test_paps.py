"""Tests for the PaPs panoptic head and its loss (:mod:`sitsfusion.models.heads.paps`,
:mod:`sitsfusion.models.heads.paps_loss`).

The parameter count is the reference's (``utae-paps``, anchors-code §2.6); everything else runs
on a tiny U-TAE and 32 × 32 patches.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries
from sitsfusion.models.heads.paps import PaPs, extract_centres, pseudo_nms
from sitsfusion.models.heads.paps_loss import PaPsLoss, centerness_loss, object_targets
from sitsfusion.models.spatiotemporal.utae import UTAEEncoder

H = W = 32
TINY = {
    "encoder_widths": (8, 8, 8, 16),
    "decoder_widths": (8, 8, 8, 16),
    "n_head": 4,
    "d_model": 16,
    "d_k": 4,
}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def tiny_model(seed: int = 0) -> tuple[UTAEEncoder, PaPs]:
    torch.manual_seed(seed)
    return UTAEEncoder(3, **TINY), PaPs(enc_dim=8, stack_dim=8 + 8 + 8 + 16)  # type: ignore[arg-type]


def series(b: int, t: int = 4, seed: int = 0) -> PaddedSeries:
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(b, t, 3, H, W, generator=g)
    dates = torch.arange(t).repeat(b, 1) * 15
    return PaddedSeries(values, dates, torch.zeros(b, t, dtype=torch.bool))


def synthetic_targets(b: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Two rectangular parcels per image: heatmap (Gaussians, 1 at the box centres), instances,
    zones (the parcel of the largest Gaussian) and semantic classes 3 and 5."""
    inst = torch.zeros(b, H, W, dtype=torch.long)
    inst[:, 3:13, 2:16] = 1
    inst[:, 17:29, 19:29] = 2
    sem = torch.where(inst == 1, 3, torch.where(inst == 2, 5, 0))
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    gs = []
    for t, bo, le, ri in ((3, 13, 2, 16), (17, 29, 19, 29)):
        cy, cx = (t + bo - 1) // 2, (le + ri - 1) // 2
        sy, sx = 0.3 * (bo - t) / 3, 0.3 * (ri - le) / 3
        gs.append(torch.exp(-((yy - cy) ** 2) / (2 * sy**2) - (xx - cx) ** 2 / (2 * sx**2)))
    g = torch.stack(gs)
    heat = g.max(0).values.expand(b, H, W).clone()
    zones = (g.argmax(0) + 1).expand(b, H, W).clone()
    return heat, inst, zones, sem


# ------------------------------------------------------------------------------------ head
def test_parameter_count_matches_reference() -> None:
    assert n_params(PaPs()) == 172_413
    assert n_params(PaPs(mask_conv=False)) == 172_413 - 2_657


@pytest.mark.parametrize("b", [1, 2])
def test_shapes_train_and_eval(b: int) -> None:
    enc, head = tiny_model()
    feats = enc.forward_features(series(b))
    _, _, zones, _ = synthetic_targets(b)
    head.train()
    out = head(feats, zones=zones)
    n = 2 * b
    assert out.heatmap.shape == (b, 1, H, W) and out.saliency is not None
    assert out.saliency.shape == (b, 1, H, W)
    assert out.centre_mask.shape == (b, H, W) and int(out.centre_mask.sum()) == n
    assert out.semantic is not None and out.semantic.shape == (n, 20)
    assert out.size is not None and out.size.shape == (n, 2) and bool((out.size > 0).all())
    assert out.shape is not None and out.shape.shape == (n, 16, 16)
    assert out.masks is not None and out.masks.boxes.shape == (n, 4)
    assert out.panoptic_instance is not None and out.panoptic_instance.shape == (b, H, W)
    assert out.panoptic_semantic is not None and out.panoptic_semantic.shape == (b, 20, H, W)
    head.eval()
    with torch.no_grad():
        out = head((feats.out, feats.maps))  # the (out, maps) form
    assert out.panoptic_instance is not None and out.panoptic_instance.shape == (b, H, W)
    m = int(out.centre_batch.numel())
    assert out.semantic is not None and out.semantic.shape == (m, 20)
    hm = head(feats, heatmap_only=True)
    assert hm.saliency is None and hm.semantic is None and hm.masks is None


def test_single_centre_in_training_mode() -> None:
    """One centre in a training batch: BatchNorm1d falls back to its running statistics."""
    enc, head = tiny_model()
    feats = enc.forward_features(series(1))
    zones = torch.ones(1, H, W, dtype=torch.long)
    out = head.train()(feats, zones=zones)
    assert int(out.centre_mask.sum()) == 1
    assert out.semantic is not None and torch.isfinite(out.semantic).all()


def test_stack_dim_mismatch_raises() -> None:
    enc, _ = tiny_model()
    feats = enc.forward_features(series(1))
    with pytest.raises(ValueError, match="stack_dim"):
        PaPs(enc_dim=8, stack_dim=64).eval()(feats)


# --------------------------------------------------------------------------------- centres
def test_training_centres_one_per_zone_at_argmax() -> None:
    g = torch.Generator().manual_seed(1)
    heat = torch.rand(2, 1, 12, 10, generator=g)
    zones = torch.zeros(2, 12, 10, dtype=torch.long)
    zones[0, :6] = 3
    zones[0, 6:, :5] = 17
    zones[1, :, 4:] = 3  # same id in another image: a different zone
    zones[1, 2:5, 0:2] = 1000
    mask = extract_centres(heat, zones)
    expected = torch.zeros_like(mask)
    for b in range(2):
        for z in zones[b].unique().tolist():
            if z == 0:
                continue
            vals = torch.where(zones[b] == z, heat[b, 0], -1.0)
            expected[b].view(-1)[vals.view(-1).argmax()] = True
    assert torch.equal(mask, expected)
    assert int(mask.sum()) == 4  # 2 + 2 non-zero zones, none in zone 0
    assert not bool(mask[zones == 0].any())


def test_training_centres_ties_and_empty() -> None:
    heat = torch.zeros(1, 1, 4, 4)
    zones = torch.ones(1, 4, 4, dtype=torch.long)
    assert extract_centres(heat, zones).nonzero().tolist() == [[0, 0, 0]]
    assert not bool(extract_centres(heat, torch.zeros_like(zones)).any())


def test_inference_centres_are_local_maxima_above_mean() -> None:
    g = torch.Generator().manual_seed(2)
    heat = torch.rand(2, 1, 9, 11, generator=g)
    mask = extract_centres(heat)
    padded = F.pad(heat[:, 0], (1, 1, 1, 1), value=-1.0)
    for b in range(2):
        mean = heat[b].mean()
        for y in range(9):
            for x in range(11):
                v = heat[b, 0, y, x]
                is_max = bool((padded[b, y : y + 3, x : x + 3] <= v).all())
                assert bool(mask[b, y, x]) == (is_max and bool(v > mean)), (b, y, x)
    assert bool(mask.any())
    # hand-built: a ramp (its top column is a ridge of maxima) and a weak isolated local
    # maximum below the mean (0.175), which is not a centre
    heat = (0.05 * torch.arange(8.0)).expand(1, 1, 8, 8).clone()
    heat[0, 0, 3, 1] = 0.12
    mask = extract_centres(heat)
    assert not bool(mask[0, 3, 1]) and bool(mask[0, :, 7].all()) and int(mask.sum()) == 8


# ------------------------------------------------------------------------------------ masks
def loop_masks(head: PaPs, shape: Tensor, sal: Tensor, batch: Tensor, pos: Tensor, size: Tensor):
    """The per-instance mask assembly, written plainly (resize, crop, add, CNN on the crop)."""
    s = size.round().clamp_min(1).long()
    out = []
    for i in range(shape.shape[0]):
        h, w = int(s[i, 0]), int(s[i, 1])
        t, le = int(pos[i, 0]) - h // 2, int(pos[i, 1]) - w // 2
        r = F.interpolate(shape[i][None, None], size=(h, w), mode="bilinear", align_corners=False)
        t0, l0 = max(t, 0), max(le, 0)
        t1, l1 = min(t + h, H), min(le + w, W)
        r = r[:, :, t0 - t : t1 - t, l0 - le : l1 - le]
        crop = sal[int(batch[i]) : int(batch[i]) + 1, :, t0:t1, l0:l1]
        if head.mask_cnn is None:
            m = torch.sigmoid(r) * torch.sigmoid(crop)
        else:
            conv1, norm, conv2, conv3 = head.mask_cnn
            x = r + crop
            y = conv3(F.relu(conv2(F.relu(norm(conv1(x))))))
            m = torch.sigmoid(x) * torch.sigmoid(y)
        out.append(m[0, 0])
    return out


@pytest.mark.parametrize("mask_conv", [True, False])
def test_vectorised_masks_equal_per_instance_loop(mask_conv: bool) -> None:
    torch.manual_seed(3)
    head = PaPs(enc_dim=8, stack_dim=40, mask_conv=mask_conv, canvas_pixels=300)
    n = 7
    shape = torch.randn(n, 16, 16)
    sal = torch.randn(2, 1, H, W)
    batch = torch.tensor([0, 0, 1, 1, 0, 1, 0])
    pos = torch.tensor([[0, 0], [31, 31], [5, 30], [16, 16], [2, 9], [30, 1], [10, 10]])
    size = torch.tensor(
        [[6.4, 3.2], [9.0, 12.6], [1.0, 7.0], [20.2, 4.9], [0.2, 0.3], [40.0, 3.0], [3.5, 2.5]]
    )
    full, clipped = head.boxes(pos, size, (H, W))
    masks = head.assemble_masks(shape, sal, batch, full, clipped)
    expected = loop_masks(head, shape, sal, batch, pos, size)
    assert masks.values.numel() == sum(e.numel() for e in expected)
    for i, e in enumerate(expected):
        got = masks.mask(i)
        assert got.shape == e.shape, i
        torch.testing.assert_close(got, e, atol=1e-5, rtol=1e-5)
        top, left, bottom, right = masks.boxes[i].tolist()
        rows = torch.arange(top, bottom).view(-1, 1)
        cols = torch.arange(left, right).view(1, -1)
        flat = (int(batch[i]) * H + rows) * W + cols
        start, stop = int(masks.offsets[i]), int(masks.offsets[i + 1])
        assert torch.equal(masks.pixel[start:stop], flat.reshape(-1))
        assert bool((masks.index[start:stop] == i).all())
    # every box holds its centre and has the rounded size where not clipped
    assert bool(((clipped[:, :2] <= pos) & (pos < clipped[:, 2:])).all())
    assert (full[6, 2:] - full[6, :2]).tolist() == [4, 2]  # round(3.5) = 4, round(2.5) = 2


# -------------------------------------------------------------------------------- pseudo-NMS
def dense_nms(conf: list[float], masks: list[Tensor], **kwargs: object):
    n = len(masks)
    hw = masks[0].numel()
    values = torch.stack(masks).reshape(-1)
    index = torch.arange(n).repeat_interleave(hw)
    pixel = torch.arange(hw).repeat(n)
    scores = torch.eye(4)[torch.tensor([1 + i % 3 for i in range(n)])]
    return pseudo_nms(
        torch.tensor(conf),
        torch.zeros(n, dtype=torch.long),
        values,
        index,
        pixel,
        scores,
        (1, *masks[0].shape),
        **kwargs,  # type: ignore[arg-type]
    )


def box(t: int, b: int, le: int, r: int, v: float = 0.9) -> Tensor:
    m = torch.zeros(8, 8)
    m[t:b, le:r] = v
    return m


def test_pseudo_nms_rejects_large_overlap_keeps_small() -> None:
    a = box(0, 4, 0, 4)  # 16 px, most confident
    b = box(0, 4, 1, 5)  # 16 px, 12 already taken: 25 % new < 50 % → rejected
    c = box(3, 7, 3, 7)  # 16 px, 1 taken (3,3): 15/16 new → kept, gets the new pixels
    d = box(6, 8, 6, 8)  # confidence below min_confidence → ignored
    e = box(5, 8, 0, 2, v=0.3)  # below mask_threshold everywhere → no pixel → not kept
    pano, sem, kept = dense_nms([0.9, 0.8, 0.7, 0.1, 0.6], [a, b, c, d, e])
    assert kept.tolist() == [1, 0, 2, 0, 0]
    assert int((pano[0] == 1).sum()) == 16 and int((pano[0] == 2).sum()) == 15
    assert int(pano[0, 3, 3]) == 1 and int(pano[0, 6, 6]) == 2 and int(pano[0, 7, 7]) == 0
    assert sem.shape == (1, 4, 8, 8)
    assert torch.equal(sem[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0, 0.0]))
    assert torch.equal(sem[0, :, 6, 6], torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert torch.equal(sem[0, :, 7, 7], torch.tensor([1.0, 0.0, 0.0, 0.0]))  # background
    # min_remain: 3/4 new is enough at 0.5, not at 0.8 (order by confidence, not by index)
    b2 = box(0, 4, 3, 7)  # 4 of 16 taken by a
    _, _, kept = dense_nms([0.5, 0.9], [b2, a])
    assert kept.tolist() == [2, 1]
    _, _, kept = dense_nms([0.5, 0.9], [b2, a], min_remain=0.8)
    assert kept.tolist() == [0, 1]


# -------------------------------------------------------------------------------------- loss
def test_centerness_loss_matches_formula() -> None:
    pred = torch.tensor([0.9, 0.2, 0.5, 0.7])
    gt = torch.tensor([1.0, 0.0, 0.5, 1.0])
    pos = torch.log(torch.tensor(0.9)) + torch.log(torch.tensor(0.7))
    neg = torch.log(torch.tensor(0.8)) + 0.5**4 * torch.log(torch.tensor(0.5))
    torch.testing.assert_close(centerness_loss(pred, gt), -(pos + neg) / 2)
    torch.testing.assert_close(centerness_loss(pred, torch.zeros(4)), -torch.log(1 - pred).sum())


def test_object_targets() -> None:
    inst = torch.zeros(2, 6, 6, dtype=torch.long)
    inst[0, 1:4, 2:6] = 4
    inst[1, 0:2, 0:1] = 4
    inst[1, 5, 5] = 2
    sem = torch.zeros_like(inst)
    sem[0, 1:4, 2:6] = 7
    sem[0, 1, 2:4] = 9  # minority
    sem[1, 5, 5] = 19
    sem[1, 0:2, 0] = 1
    keys, size, label = object_targets(inst, sem, keys_base=10)
    assert keys.tolist() == [4, 12, 14]
    assert size.tolist() == [[3.0, 4.0], [1.0, 1.0], [2.0, 1.0]]
    assert label.tolist() == [7, 19, 1]


def test_loss_terms_and_void_instance() -> None:
    enc, head = tiny_model()
    heat, inst, zones, sem = synthetic_targets(2)
    out = head.train()(enc.forward_features(series(2)), zones=zones)
    loss, terms = PaPsLoss()(out, heat, inst, zones, sem)
    assert torch.isfinite(loss) and set(terms) == {"center", "size", "class", "shape"}
    assert all(bool(v > 0) for v in terms.values())
    total = sum(terms.values())
    torch.testing.assert_close(loss.detach(), total)
    # every object void: the class term is 0, the others are unchanged
    _, terms_void = PaPsLoss()(out, heat, inst, zones, torch.where(inst > 0, 19, 0))
    assert float(terms_void["class"]) == 0.0
    torch.testing.assert_close(terms_void["size"], terms["size"])
    torch.testing.assert_close(terms_void["shape"], terms["shape"])
    # manual size term
    assert out.size is not None
    true = torch.tensor([[10.0, 14.0], [12.0, 10.0]]).repeat(2, 1)
    obj = zones[out.centre_batch, out.centre_pos[:, 0], out.centre_pos[:, 1]]
    manual = ((true[obj - 1] - out.size.detach()).abs() / true[obj - 1]).sum(1).mean()
    torch.testing.assert_close(terms["size"], manual)
    # match="instance": centres on background pixels get no target
    _, t_inst = PaPsLoss(match="instance")(out, heat, torch.zeros_like(inst), zones, sem)
    assert float(t_inst["size"]) == 0.0 and float(t_inst["shape"]) == 0.0
    # weights
    loss2, _ = PaPsLoss(l_center=0.0, l_shape=2.0)(out, heat, inst, zones, sem)
    torch.testing.assert_close(loss2.detach(), terms["size"] + terms["class"] + 2 * terms["shape"])


def test_no_centre_gives_finite_loss_and_heatmap_gradients() -> None:
    enc, head = tiny_model()
    heat, inst, _, sem = synthetic_targets(1)
    zones = torch.zeros(1, H, W, dtype=torch.long)
    out = head.train()(enc.forward_features(series(1)), zones=zones)
    assert out.centre_batch.numel() == 0
    assert out.panoptic_instance is not None and int(out.panoptic_instance.max()) == 0
    loss, terms = PaPsLoss()(out, heat, inst, zones, sem)
    assert torch.isfinite(loss) and float(terms["size"]) == 0.0
    loss.backward()
    for p in head.heatmap_conv.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert float(head.heatmap_conv[0].weight.grad.abs().sum()) > 0
    # heatmap_only output: centerness term only
    out = head(enc.forward_features(series(1)), zones=inst, heatmap_only=True)
    loss, terms = PaPsLoss()(out, heat, inst, inst, sem)
    assert torch.isfinite(loss) and float(terms["shape"]) == 0.0


def test_training_decreases_loss_and_reaches_every_parameter() -> None:
    enc, head = tiny_model(seed=4)
    s = series(1, seed=4)
    heat, inst, zones, sem = synthetic_targets(1)
    criterion = PaPsLoss()
    params = [*enc.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=3e-2)
    history: list[float] = []
    terms: list[dict[str, Tensor]] = []
    for step in range(30):
        opt.zero_grad()
        out = head.train()(enc.forward_features(s), zones=zones)
        loss, t = criterion(out, heat, inst, zones, sem)
        assert torch.isfinite(loss)
        loss.backward()
        if step == 0:
            for name, p in head.named_parameters():
                assert p.grad is not None, name
                assert float(p.grad.abs().sum()) > 0, name
        opt.step()
        history.append(float(loss.detach()))
        terms.append(t)
    assert history[-1] < 0.6 * history[0], history
    for name in ("center", "size", "class"):
        assert float(terms[-1][name]) < 0.5 * float(terms[0][name]), name


def test_pseudo_nms_batched_equals_sequential_loop() -> None:
    """Lock-step NMS over a batch = the plain per-image, per-centre loop of the reference."""
    g = torch.Generator().manual_seed(5)
    b, h, w, n, k = 3, 10, 9, 40, 5
    batch = torch.randint(0, b, (n,), generator=g)
    conf = torch.rand(n, generator=g)
    dense = torch.zeros(n, h, w)
    for i in range(n):  # random boxes of random values
        t, le = (
            int(torch.randint(0, h, (1,), generator=g)),
            int(torch.randint(0, w, (1,), generator=g)),
        )
        dense[i, t : t + 4, le : le + 5] = torch.rand(min(4, h - t), min(5, w - le), generator=g)
    scores = torch.softmax(torch.randn(n, k, generator=g), dim=1)
    flat = (batch.view(-1, 1, 1) * h + torch.arange(h).view(1, -1, 1)) * w + torch.arange(w)
    pano, sem, kept = pseudo_nms(
        conf, batch, dense.reshape(-1), torch.arange(n).repeat_interleave(h * w),
        flat.reshape(-1), scores, (b, h, w), 0.2, 0.5, 0.4,
    )  # fmt: skip
    ref = torch.zeros(b, h, w, dtype=torch.long)
    ref_kept = torch.zeros(n, dtype=torch.long)
    for img in range(b):
        next_id = 1
        idx = (batch == img).nonzero().squeeze(1)
        for i in idx[torch.argsort(conf[idx], descending=True, stable=True)].tolist():
            if conf[i] < 0.2:
                break
            on = dense[i] > 0.4
            free = on & (ref[img] == 0)
            n_on, n_free = int(on.sum()), int(free.sum())
            if n_on and (n_free == n_on or n_free / n_on > 0.5):
                ref[img][free] = next_id
                ref_kept[i] = next_id
                next_id += 1
    assert torch.equal(pano, ref) and torch.equal(kept, ref_kept)
    assert int((kept > 0).sum()) > 3
    owner = torch.zeros(b, h, w, dtype=torch.long)
    for i in (kept > 0).nonzero().squeeze(1).tolist():
        owner[batch[i]][pano[batch[i]] == kept[i]] = i
    for img in range(b):
        fg = pano[img] > 0
        torch.testing.assert_close(sem[img][:, fg], scores[owner[img][fg]].T)
        assert bool((sem[img][0, ~fg] == 1).all())
