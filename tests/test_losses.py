"""Losses of :mod:`sitsfusion.losses` (tiny CPU tensors)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.losses import (
    LOSS_NAMES,
    FocalLoss,
    MaskedNLLLoss,
    build_loss,
    class_counts,
    inverse_frequency_weights,
)

FAST = settings(max_examples=30, deadline=None)
SHAPES = [((6, 5), (6,)), ((2, 5, 3, 4), (2, 3, 4))]  # [B, K] / [B] and [B, K, H, W] / [B, H, W]


def _data(scores_shape: tuple[int, ...], target_shape: tuple[int, ...], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(scores_shape, generator=g, requires_grad=True)
    target = torch.randint(0, scores_shape[1], target_shape, generator=g)
    return scores, target


# --------------------------------------------------------------------------- focal loss


@pytest.mark.parametrize(("scores_shape", "target_shape"), SHAPES)
def test_focal_gamma_zero_is_cross_entropy(scores_shape, target_shape):
    scores, target = _data(scores_shape, target_shape)
    assert torch.allclose(FocalLoss(gamma=0.0)(scores, target), F.cross_entropy(scores, target))
    weight = torch.tensor([0.5, 2.0, 1.0, 0.0, 3.0])
    target = target.clone()
    target.view(-1)[:2] = 4  # ignored below
    got = FocalLoss(gamma=0.0, weight=weight, ignore_index=4)(scores, target)
    want = F.cross_entropy(scores, target, weight=weight, ignore_index=4)
    assert torch.allclose(got, want)
    got_sum = FocalLoss(gamma=0.0, weight=weight, reduction="sum")(scores, target)
    assert torch.allclose(got_sum, F.cross_entropy(scores, target, weight=weight, reduction="sum"))


@pytest.mark.parametrize(("scores_shape", "target_shape"), SHAPES)
def test_focal_default_gamma_and_shapes(scores_shape, target_shape):
    scores, target = _data(scores_shape, target_shape)
    loss = FocalLoss()
    assert loss.gamma == 2.0  # seed 000, Sec. 4.3
    out = loss(scores, target)
    assert out.shape == ()
    out.backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()
    assert FocalLoss(reduction="none")(scores, target).shape == target.shape


def test_focal_below_cross_entropy_for_confident_correct_predictions():
    target = torch.tensor([0, 1, 2, 3])
    logits = torch.full((4, 4), -3.0)
    logits[torch.arange(4), target] = 3.0  # p_t ≈ 0.99
    ce = F.cross_entropy(logits, target)
    focal = FocalLoss(gamma=2.0)(logits, target)
    assert focal < ce * 1e-3  # (1 - p_t)^2 ≈ 1e-4
    # and a wrong, confident prediction keeps almost all of its cross-entropy
    wrong = torch.roll(target, 1)
    assert FocalLoss(gamma=2.0)(logits, wrong) > 0.99 * F.cross_entropy(logits, wrong)


@FAST
@given(gamma=st.floats(0.0, 5.0), seed=st.integers(0, 10_000))
def test_focal_never_exceeds_cross_entropy(gamma, seed):
    scores, target = _data((8, 4), (8,), seed)
    per_focal = FocalLoss(gamma=gamma, reduction="none")(scores, target)
    per_ce = F.cross_entropy(scores, target, reduction="none")
    assert torch.all(per_focal <= per_ce + 1e-6)
    assert torch.all(per_focal >= 0)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_focal_finite_gradient_when_certain(gamma):
    logits = torch.tensor([[60.0, -60.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    loss = FocalLoss(gamma=gamma)(logits, torch.tensor([0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(("scores_shape", "target_shape"), SHAPES)
def test_focal_ignore_index_respected(scores_shape, target_shape):
    scores, target = _data(scores_shape, target_shape, seed=3)
    target = target.clone()
    ignored = torch.zeros_like(target, dtype=torch.bool)
    ignored.view(-1)[::3] = True
    target[ignored] = 19  # PASTIS void, outside the 5 outputs
    loss = FocalLoss(ignore_index=19)
    base = loss(scores, target)
    # changing the scores at ignored positions changes nothing
    moved = scores.detach().clone()
    moved.movedim(1, -1)[ignored] += 10.0
    assert torch.allclose(loss(moved, target), base)
    # equals the loss over the kept positions only
    kept_scores = scores.movedim(1, -1)[~ignored]  # [N, K]
    assert torch.allclose(FocalLoss()(kept_scores, target[~ignored]), base)
    per = FocalLoss(ignore_index=19, reduction="none")(scores, target)
    assert torch.all(per[ignored] == 0)


def test_focal_all_ignored_is_zero_with_gradient():
    scores, _ = _data((2, 5, 3, 3), (2, 3, 3))
    target = torch.full((2, 3, 3), 19)
    loss = FocalLoss(ignore_index=19)(scores, target)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(scores.grad == 0)


def test_focal_class_weights():
    scores, target = _data((10, 3), (10,), seed=5)
    weight = torch.tensor([1.0, 4.0, 0.5])
    per = FocalLoss(gamma=2.0, reduction="none")(scores, target)
    w = weight[target]
    got = FocalLoss(gamma=2.0, weight=weight)(scores, target)
    assert torch.allclose(got, (per * w).sum() / w.sum())
    with pytest.raises(ValueError, match="class weights"):
        FocalLoss(weight=[1.0, 2.0])(scores, target)


def test_focal_accepts_log_probabilities():
    """log_softmax is the identity on log-probabilities: decision-fusion outputs work as-is."""
    scores, target = _data((2, 5, 4, 4), (2, 4, 4), seed=7)
    fused = torch.log((scores.softmax(1) + torch.randn_like(scores).softmax(1)) / 2)
    for gamma in (0.0, 2.0):
        loss = FocalLoss(gamma=gamma)
        assert torch.allclose(loss(fused, target), loss(fused.exp().log(), target))
    assert torch.allclose(FocalLoss(gamma=0.0)(fused, target), F.nll_loss(fused, target))
    assert torch.allclose(
        FocalLoss()(F.log_softmax(scores, 1), target), FocalLoss()(scores, target)
    )


def test_focal_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match=r"\[B, K"):
        FocalLoss()(torch.randn(4, 3), torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        FocalLoss()(torch.randn(4, 3), torch.zeros(4))


def test_weight_buffer_follows_module():
    loss = FocalLoss(weight=[1.0, 2.0, 3.0]).to(torch.float64)
    assert loss.weight is not None and loss.weight.dtype == torch.float64
    assert "weight" in loss.state_dict()
    out = loss(torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 1]))
    assert out.dtype == torch.float64


# --------------------------------------------------------------------------- inverse frequency


def test_inverse_frequency_weights():
    counts = torch.tensor([10, 0, 30, 60, 5])
    # 1 / frequency over counted classes (ignore 4): N = 100
    raw = inverse_frequency_weights(counts, ignore_index=4, normalize=False)
    assert torch.allclose(raw, torch.tensor([10.0, 0.0, 100 / 30, 100 / 60, 0.0]))
    balanced = inverse_frequency_weights(counts, ignore_index=4)  # N / (K · N_c), K = 3 present
    assert torch.allclose(balanced, raw / 3)
    assert balanced[1] == 0 and balanced[4] == 0  # absent and ignored: 0, not inf
    assert torch.isfinite(balanced).all()
    # the sample-weighted mean weight is 1
    kept = torch.tensor([0, 2, 3])
    assert torch.isclose(
        (balanced[kept] * counts[kept]).sum() / counts[kept].sum(), torch.tensor(1.0)
    )
    # ∝ 1 / frequency: rarest class has the largest weight
    assert balanced.argmax() == 0
    assert torch.equal(inverse_frequency_weights([0, 0, 0]), torch.zeros(3))
    with pytest.raises(ValueError):
        inverse_frequency_weights(torch.tensor([1, -1]))


def test_class_counts_and_weighted_ce_scale_invariance():
    target = torch.tensor([[0, 0, 1, 19], [2, 2, 2, 19]])
    counts = class_counts(target, num_classes=20, ignore_index=19)
    assert counts[:3].tolist() == [2, 1, 3] and counts.sum() == 6
    with pytest.raises(ValueError, match="outside"):
        class_counts(target, num_classes=3)
    scores, t = _data((12, 3), (12,), seed=11)
    w1 = inverse_frequency_weights(class_counts(t, 3), normalize=True)
    w2 = inverse_frequency_weights(class_counts(t, 3), normalize=False)
    ce1 = build_loss("weighted_cross_entropy", 3, class_weights=w1)(scores, t)
    ce2 = build_loss("weighted_cross_entropy", 3, class_weights=w2)(scores, t)
    assert torch.allclose(ce1, ce2)


# --------------------------------------------------------------------------- masked NLL


@pytest.mark.parametrize(("scores_shape", "target_shape"), SHAPES)
def test_masked_nll_over_known_labels(scores_shape, target_shape):
    scores, target = _data(scores_shape, target_shape, seed=2)
    log_probs = F.log_softmax(scores, dim=1)
    target = target.clone()
    target.view(-1)[::4] = 0  # S4A: 0 = unknown / background
    mask = torch.ones_like(target, dtype=torch.bool)
    mask.view(-1)[1::5] = False
    loss = MaskedNLLLoss(ignore_index=0)(log_probs, target, mask)
    valid = (target != 0) & mask
    want = F.nll_loss(log_probs.movedim(1, -1)[valid], target[valid])
    assert torch.allclose(loss, want)
    # logits with from_logits=True give the same
    assert torch.allclose(
        MaskedNLLLoss(ignore_index=0, from_logits=True)(scores, target, mask), want
    )


def test_masked_nll_weights_and_normalisation():
    scores, target = _data((2, 4, 3, 3), (2, 3, 3), seed=4)
    log_probs = F.log_softmax(scores, 1)
    weight = torch.tensor([0.0, 1.0, 2.0, 3.0])
    per = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    w = weight[target]
    valid = target != 0
    by_valid = MaskedNLLLoss(weight=weight, ignore_index=0)(log_probs, target)
    assert torch.allclose(by_valid, (per * w)[valid].sum() / valid.sum())
    by_weight = MaskedNLLLoss(weight=weight, ignore_index=0, normalize_by="weight")(
        log_probs, target
    )
    assert torch.allclose(by_weight, F.nll_loss(log_probs, target, weight=weight, ignore_index=0))


def test_masked_nll_no_valid_pixel_is_zero_with_finite_gradient():
    scores, target = _data((2, 4, 3, 3), (2, 3, 3))
    log_probs = F.log_softmax(scores, 1)
    log_probs = log_probs.clone()
    log_probs[:, 0] = float("-inf")  # a class with probability 0 must not leak a NaN
    target = torch.zeros_like(target)  # everything unknown
    for kwargs in ({}, {"weight": torch.ones(4)}, {"normalize_by": "weight"}):
        loss = MaskedNLLLoss(ignore_index=0, **kwargs)(log_probs, target)
        assert loss.item() == 0.0
    scores.grad = None
    loss = MaskedNLLLoss(ignore_index=0)(F.log_softmax(scores, 1), target)
    loss.backward()
    assert loss.item() == 0.0
    assert scores.grad is not None and torch.isfinite(scores.grad).all()
    mask = torch.zeros_like(target, dtype=torch.bool)
    assert MaskedNLLLoss()(F.log_softmax(scores, 1), target, mask).item() == 0.0


def test_masked_nll_bad_mask():
    scores, target = _data((2, 4, 3, 3), (2, 3, 3))
    with pytest.raises(ValueError, match="mask"):
        MaskedNLLLoss()(scores, target, torch.ones(2, 3, dtype=torch.bool))


# --------------------------------------------------------------------------- factory


def test_build_loss():
    scores, target = _data((2, 20, 4, 4), (2, 4, 4), seed=9)
    target = target.clone()
    target[0, 0] = 19
    weight = torch.rand(20)
    assert set(LOSS_NAMES) == {"cross_entropy", "focal", "weighted_cross_entropy", "masked_nll"}
    ce = build_loss("cross_entropy", 20, ignore_index=19)
    assert torch.allclose(ce(scores, target), F.cross_entropy(scores, target, ignore_index=19))
    wce = build_loss("weighted_cross_entropy", 20, class_weights=weight, ignore_index=19)
    assert torch.allclose(
        wce(scores, target), F.cross_entropy(scores, target, weight=weight, ignore_index=19)
    )
    focal = build_loss("focal", 20, ignore_index=19, gamma=0.0)
    assert isinstance(focal, FocalLoss)
    assert torch.allclose(focal(scores, target), F.cross_entropy(scores, target, ignore_index=19))
    assert build_loss("focal", 20).gamma == 2.0
    nll = build_loss("masked_nll", 20, class_weights=weight, ignore_index=19)
    assert isinstance(nll, MaskedNLLLoss)
    assert torch.isfinite(nll(F.log_softmax(scores, 1), target))
    smooth = build_loss("cross_entropy", 20, label_smoothing=0.1)
    assert torch.allclose(
        smooth(scores, target), F.cross_entropy(scores, target, label_smoothing=0.1)
    )


def test_build_loss_errors():
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("dice", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="class_weights"):
        build_loss("weighted_cross_entropy", 3)
    with pytest.raises(ValueError, match="3 classes"):
        build_loss("focal", 3, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="label_smoothing"):
        build_loss("focal", 3, label_smoothing=0.1)
    with pytest.raises(ValueError, match="non-negative"):
        build_loss("cross_entropy", 2, class_weights=[1.0, float("inf")])
