"""Tests of the panoptic quality metric (PQ / SQ / RQ) with the PASTIS void rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.panoptic_metrics import PanopticQuality, panoptic_scores


def batch(*maps: np.ndarray | list) -> list[torch.Tensor]:
    """[H, W] (or [B, H, W]) arrays → long [B, H, W] tensors."""
    out = []
    for m in maps:
        t = torch.as_tensor(np.asarray(m), dtype=torch.long)
        out.append(t[None] if t.ndim == 2 else t)
    return out


def score(pi, ps, ti, ts, **kw) -> dict:
    metric = PanopticQuality(**kw)
    metric.update(*batch(pi, ps, ti, ts))
    return metric.compute()


def two_parcels() -> tuple[np.ndarray, np.ndarray]:
    """An 6 × 8 patch: parcel 1 (class 1, 3 × 4 px), parcel 2 (class 2, 3 × 4 px)."""
    inst = np.zeros((6, 8), dtype=np.int64)
    sem = np.zeros((6, 8), dtype=np.int64)
    inst[0:3, 0:4], sem[0:3, 0:4] = 1, 1
    inst[0:3, 4:8], sem[0:3, 4:8] = 2, 2
    return inst, sem


# ---- hand-built cases ---------------------------------------------------------------------------


def test_perfect_prediction() -> None:
    inst, sem = two_parcels()
    s = score(inst * 7, sem, inst, sem)  # predicted ids need not equal the true ids
    assert s["SQ"] == s["RQ"] == s["PQ"] == 1.0
    assert s["TP"][1] == s["TP"][2] == 1 and int(s["FP"].sum()) == int(s["FN"].sum()) == 0
    assert s["n_classes"] == 2 and s["present"].nonzero().flatten().tolist() == [1, 2]
    assert math.isnan(float(s["PQ_per_class"][3]))  # absent class
    assert math.isnan(float(s["PQ_per_class"][0])) and math.isnan(float(s["PQ_per_class"][19]))


def test_missed_parcel() -> None:
    inst, sem = two_parcels()
    sem[sem == 2] = 1  # both parcels of class 1
    pred = np.where(inst == 1, 1, 0)
    s = score(pred, sem * (pred > 0), inst, sem)
    assert int(s["TP"][1]) == 1 and int(s["FN"][1]) == 1 and int(s["FP"][1]) == 0
    assert s["SQ"] == 1.0
    assert s["RQ"] == pytest.approx(1 / 1.5) and s["PQ"] == pytest.approx(2 / 3)


def test_wrong_class() -> None:
    inst, sem = two_parcels()
    pred_sem = sem.copy()
    pred_sem[inst == 2] = 3  # parcel 2 found, but classified 3
    s = score(inst, pred_sem, inst, sem)
    assert int(s["TP"][2]) == 0 and int(s["FN"][2]) == 1
    assert int(s["FP"][3]) == 1 and int(s["TP"][3]) == 0
    pq = s["PQ_per_class"]
    assert float(pq[1]) == 1.0 and float(pq[2]) == 0.0 and float(pq[3]) == 0.0
    assert s["n_classes"] == 3 and s["PQ"] == pytest.approx(1 / 3)
    assert float(s["SQ_per_class"][2]) == 0.0  # no TP: SQ counts 0, as the reference


def test_prediction_of_void_instance_is_ignored() -> None:
    inst, sem = two_parcels()
    inst[4:6, 0:4], sem[4:6, 0:4] = 3, 19  # a void parcel
    pred, pred_sem = inst.copy(), sem.copy()
    pred_sem[inst == 3] = 5  # predicted as a crop: would be a false positive of class 5
    s = score(pred, pred_sem, inst, sem)
    assert int(s["FP"].sum()) == 0 and s["PQ"] == 1.0 and s["n_classes"] == 2
    # a prediction covering less than half of the void parcel is not discarded; its void
    # pixels are removed, leaving a false positive of class 5
    pred2, pred_sem2 = pred.copy(), pred_sem.copy()
    pred2[4:6, 0:4] = 0
    pred2[4:6, 0:1] = 3
    pred2[3, 0:3] = 3  # three non-void background pixels make it survive void removal
    pred_sem2[3, 0:3] = 5
    s2 = score(pred2, pred_sem2, inst, sem)
    assert int(s2["FP"][5]) == 1 and s2["n_classes"] == 3
    # with the void rule disabled, class 19 is an ordinary class
    s3 = score(pred, pred_sem, inst, sem, void_index=None)
    assert int(s3["FP"][5]) == 1 and int(s3["FN"][19]) == 1


def test_void_border_pixels_are_ignored() -> None:
    inst, sem = two_parcels()
    sem[0, 0:4] = 19  # void border on parcel 1's first row
    pred = inst.copy()
    pred[0, 0:4] = 0  # the prediction leaves the border out: still a perfect match
    s = score(pred, sem, inst, sem)
    assert s["PQ"] == 1.0
    s2 = score(inst, np.where(inst == 1, 1, sem), inst, sem)  # or covers it
    assert s2["PQ"] == 1.0


def test_iou_exactly_half_is_not_a_match() -> None:
    inst = np.zeros((2, 4), dtype=np.int64)
    inst[0, :] = 1
    sem = inst.copy()
    pred = np.zeros_like(inst)
    pred[0, :2] = 1  # IoU = 2 / 4
    s = score(pred, pred, inst, sem)
    assert int(s["TP"][1]) == 0 and int(s["FP"][1]) == 1 and int(s["FN"][1]) == 1
    assert s["PQ"] == 0.0
    pred[0, 2] = 1  # IoU = 3 / 4
    s = score(pred, pred, inst, sem)
    assert int(s["TP"][1]) == 1 and s["SQ"] == pytest.approx(0.75) and s["RQ"] == 1.0


def test_background_and_majority_class() -> None:
    inst, sem = two_parcels()
    true_inst = inst.copy()
    true_inst[3, :] = 4  # an instance of background pixels only: not a parcel
    pred_sem = sem.copy()
    pred_sem[0, 0] = 2  # one pixel of parcel 1 predicted 2: the majority (1) wins
    s = score(inst, pred_sem, true_inst, sem)
    assert s["PQ"] == 1.0 and int(s["FN"].sum()) == 0
    pred = inst.copy()
    pred[5, :] = 9  # an instance predicted as background: ignored
    s = score(pred, sem, inst, sem)
    assert s["PQ"] == 1.0 and int(s["FP"].sum()) == 0


def test_scores_input_equals_labels_input() -> None:
    inst, sem = two_parcels()
    pred_sem = sem.copy()
    pred_sem[inst == 2] = 3
    scores = torch.nn.functional.one_hot(torch.as_tensor(pred_sem), 20).permute(2, 0, 1).float()
    m = PanopticQuality()
    m.update(*batch(inst), scores[None], *batch(inst, sem))
    expected = score(inst, pred_sem, inst, sem)
    got = m.compute()
    for key in ("TP", "FP", "FN"):
        assert torch.equal(got[key], expected[key])


def test_ids_are_per_image() -> None:
    inst, sem = two_parcels()
    pred = np.stack([inst, np.zeros_like(inst)])  # image 2: nothing predicted
    s = score(pred, np.stack([sem, sem]), np.stack([inst, inst]), np.stack([sem, sem]))
    assert int(s["TP"].sum()) == 2 and int(s["FN"].sum()) == 2


def test_class_average_is_not_product_of_averages() -> None:
    inst, sem = two_parcels()
    sem[sem == 2] = 3
    inst[3:6, 0:4], sem[3:6, 0:4] = 5, 3  # a second parcel of class 3
    pred = inst.copy()
    pred[inst == 5] = 0  # missed
    pred[0, 4] = 0  # parcel 2: IoU 11 / 12
    s = score(pred, sem, inst, sem)
    sq, rq, pq = s["SQ_per_class"], s["RQ_per_class"], s["PQ_per_class"]
    torch.testing.assert_close(pq[[1, 3]], (sq * rq)[[1, 3]])
    assert s["PQ"] != pytest.approx(s["SQ"] * s["RQ"])
    assert s["PQ"] <= min(s["SQ"], s["RQ"])


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_empty_and_validation() -> None:
    m = PanopticQuality()
    s = m.compute()
    assert math.isnan(s["PQ"]) and s["n_classes"] == 0
    z = torch.zeros((1, 4, 4), dtype=torch.long)
    m.update(z, z, z, z)
    assert math.isnan(m.compute()["PQ"])
    with pytest.raises(ValueError, match="outside"):
        m.update(z, z + 25, z, z)
    with pytest.raises(ValueError, match="true_semantic"):
        m.update(z, z, z, z[:, :2])
    with pytest.raises(ValueError, match="scores"):
        m.update(z, torch.zeros((1, 5, 4, 4)), z, z)
    with pytest.raises(ValueError, match="iou_threshold"):
        PanopticQuality(iou_threshold=0.3)


def test_inputs_not_modified_and_state_device() -> None:
    inst, sem = two_parcels()
    sem[0, :] = 19
    tensors = batch(inst, sem, inst, sem)
    copies = [t.clone() for t in tensors]
    m = PanopticQuality()
    m.update(*tensors)
    assert all(torch.equal(a, b) for a, b in zip(tensors, copies, strict=True))
    assert m.tp.dtype == torch.long and m.iou_sum.dtype == torch.float64
    m2 = m.to("cpu")
    assert m2.tp.device.type == "cpu"


# ---- accumulation and a brute-force cross-check -------------------------------------------------


def random_panoptic(rng: np.random.Generator, b: int, h: int, w: int, k: int) -> list[np.ndarray]:
    """Blocky true maps and a noisy prediction of them (ids 0..4, classes 0..k-1)."""
    block = rng.integers(0, 5, size=(b, (h + 1) // 2, (w + 1) // 2))
    ti = np.repeat(np.repeat(block, 2, axis=1), 2, axis=2)[:, :h, :w]
    cls = rng.integers(0, k, size=(b, 5))
    ts = np.take_along_axis(cls, ti.reshape(b, -1), axis=1).reshape(b, h, w)
    ts = np.where(rng.random((b, h, w)) < 0.15, rng.integers(0, k, size=(b, h, w)), ts)
    pi = np.where(rng.random((b, h, w)) < 0.2, rng.integers(0, 5, size=(b, h, w)), ti)
    ps = np.where(rng.random((b, h, w)) < 0.2, rng.integers(0, k, size=(b, h, w)), ts)
    return [pi, ps, ti, ts]


def brute_force(pi, ps, ti, ts, k: int, bg: int, void: int, thr: float = 0.5):
    """The module's definitions, one instance pair at a time."""
    tp, fp, fn = np.zeros(k, int), np.zeros(k, int), np.zeros(k, int)
    iou_sum = np.zeros(k)
    for b in range(ti.shape[0]):
        p_map, t_map, t_sem, p_sem = pi[b], ti[b], ts[b], ps[b]
        voidm = t_sem == void
        discarded = set()
        for t in np.unique(t_map[voidm & (t_map != 0)]):
            seg = (t_map == t) & voidm
            for p in np.unique(p_map[p_map != 0]):
                pm = p_map == p
                if (seg & pm).sum() / (seg | pm).sum() > thr:
                    discarded.add(int(p))
        p_keep = np.where(np.isin(p_map, list(discarded)) | voidm, 0, p_map)
        t_keep = np.where(voidm | (t_sem == bg), 0, t_map)

        def classes(m, sem):
            return {
                int(i): int(np.bincount(sem[m == i], minlength=k).argmax())
                for i in np.unique(m[m != 0])
            }

        tc = {i: c for i, c in classes(t_keep, t_sem).items() if c not in (bg, void)}
        pc = {i: c for i, c in classes(p_keep, p_sem).items() if c not in (bg, void)}
        for c in tc.values():
            fn[c] += 1
        for c in pc.values():
            fp[c] += 1
        for t, c in tc.items():
            for p, c2 in pc.items():
                tm, pm = t_keep == t, p_keep == p
                iou = (tm & pm).sum() / (tm | pm).sum()
                if c == c2 and iou > thr:
                    tp[c] += 1
                    fp[c] -= 1
                    fn[c] -= 1
                    iou_sum[c] += iou
    return tp, fp, fn, iou_sum


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(1, 3), h=st.integers(1, 9))
def test_matches_brute_force_and_bounds(seed: int, b: int, h: int) -> None:
    k, bg, void = 6, 0, 5
    rng = np.random.default_rng(seed)
    maps = random_panoptic(rng, b, h, 7, k)
    m = PanopticQuality(num_classes=k, background_index=bg, void_index=void)
    m.update(*batch(*maps))
    s = m.compute()
    tp, fp, fn, iou_sum = brute_force(*maps, k=k, bg=bg, void=void)
    np.testing.assert_array_equal(s["TP"].numpy(), tp)
    np.testing.assert_array_equal(s["FP"].numpy(), fp)
    np.testing.assert_array_equal(s["FN"].numpy(), fn)
    np.testing.assert_allclose(s["iou_sum"].numpy(), iou_sum, rtol=1e-12)
    if s["n_classes"] == 0:
        assert math.isnan(s["PQ"])
        return
    for key in ("SQ", "RQ", "PQ"):
        assert 0.0 <= s[key] <= 1.0
    assert s["PQ"] <= min(s["SQ"], s["RQ"]) + 1e-12  # holds for class averages too
    present = s["present"]
    sq, rq, pq = (s[f"{key}_per_class"][present] for key in ("SQ", "RQ", "PQ"))
    torch.testing.assert_close(pq, sq * rq)
    matched = s["TP"][present] > 0
    assert bool((sq[matched] > 0.5).all()) and bool((sq[~matched] == 0).all())


def test_two_batches_equal_one_big_batch() -> None:
    rng = np.random.default_rng(3)
    a = random_panoptic(rng, 3, 16, 16, 20)
    c = random_panoptic(rng, 2, 16, 16, 20)
    big = PanopticQuality()
    big.update(*batch(*[np.concatenate([x, y]) for x, y in zip(a, c, strict=True)]))
    split = PanopticQuality()
    split.update(*batch(*a))
    split.update(*batch(*c))
    s_big, s_split = big.compute(), split.compute()
    for key in ("TP", "FP", "FN"):
        assert torch.equal(s_big[key], s_split[key])
    assert s_big["PQ"] == pytest.approx(s_split["PQ"], rel=1e-12)
    # folds: separate metrics merged, or their counts summed and scored once
    fold1, fold2 = PanopticQuality(), PanopticQuality()
    fold1.update(*batch(*a))
    fold2.update(*batch(*c))
    summed = panoptic_scores(
        fold1.tp + fold2.tp,
        fold1.fp + fold2.fp,
        fold1.fn + fold2.fn,
        fold1.iou_sum + fold2.iou_sum,
        evaluated=[c not in (0, 19) for c in range(20)],
    )
    assert summed["PQ"] == pytest.approx(s_big["PQ"], rel=1e-12)
    fold1.merge_state(fold2)
    assert fold1.compute()["PQ"] == pytest.approx(s_big["PQ"], rel=1e-12)
