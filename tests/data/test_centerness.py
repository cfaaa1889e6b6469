"""Tests of the PaPs centerness ground truth and of spatial transforms of the panoptic targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paths import SHARED_DATA
from sitsfusion.data import centerness as centerness_module
from sitsfusion.data.centerness import CenternessTargets, centerness_targets
from sitsfusion.data.sample import Sample, SampleError, TimeSeries
from sitsfusion.data.transforms import flip, random_flip_rot90, rot90

REAL = SHARED_DATA / "pastis_metadata_real"
SPREAD = (1 - 0.7) / (1 + 0.7) / 3  # σ = SPREAD · size (α = 0.7, r = 3)


def one_parcel() -> torch.Tensor:
    inst = torch.zeros((12, 12), dtype=torch.long)
    inst[3:6, 2:9] = 4  # rows 3..5, cols 2..8
    return inst


def test_single_parcel_peak_and_sigma() -> None:
    heat, zones = centerness_targets(one_parcel())
    assert heat.dtype == torch.float32 and zones.dtype == torch.long
    # box grown by one pixel: rows 2..6 (centre 4, height 4), cols 1..9 (centre 5, width 8)
    assert float(heat[4, 5]) == 1.0 and float(heat.max()) == 1.0
    assert int(heat.argmax()) == 4 * 12 + 5
    sigma_h, sigma_w = SPREAD * 4, SPREAD * 8
    assert float(heat[6, 5]) == pytest.approx(math.exp(-(2**2) / (2 * sigma_h**2)), rel=1e-5)
    assert float(heat[4, 8]) == pytest.approx(math.exp(-(3**2) / (2 * sigma_w**2)), rel=1e-5)
    expected = math.exp(-1 / (2 * sigma_h**2) - 4 / (2 * sigma_w**2))
    assert float(heat[5, 7]) == pytest.approx(expected, rel=1e-5)
    assert bool((heat >= 0).all()) and bool((heat <= 1).all())
    assert bool((zones == 4).all())  # one parcel dominates everywhere


def test_box_clipped_at_the_patch_edge() -> None:
    inst = torch.zeros((10, 10), dtype=torch.long)
    inst[0:3, 7:10] = 1  # rows 0..2 → 0..3 (centre 1, height 3); cols 7..9 → 6..9 (7, 3)
    heat, _ = centerness_targets(inst)
    assert float(heat[1, 7]) == 1.0 and int(heat.argmax()) == 1 * 10 + 7
    sigma = SPREAD * 3
    assert float(heat[3, 7]) == pytest.approx(math.exp(-4 / (2 * sigma**2)), rel=1e-5)


def test_several_parcels_max_and_zones() -> None:
    inst = torch.zeros((16, 16), dtype=torch.long)
    inst[1:6, 1:6] = 15_401_718  # large raw parcel ids are kept as they are
    inst[8:15, 2:13] = 7
    inst[1:4, 9:15] = 30
    heat, zones = centerness_targets(inst)
    singles = {}
    for i in (7, 30, 15_401_718):
        h, z = centerness_targets(torch.where(inst == i, inst, 0))
        singles[i] = h
        assert bool((z == i).all())
    stack = torch.stack([singles[i] for i in (7, 30, 15_401_718)])
    torch.testing.assert_close(heat, stack.max(dim=0).values)
    ids = torch.tensor([7, 30, 15_401_718])
    expected_zones = ids[stack.argmax(dim=0)]
    clear = (stack.max(dim=0).values - stack.topk(2, dim=0).values[1]) > 1e-6  # no near tie
    assert torch.equal(zones[clear], expected_zones[clear])
    for i, (r, c) in {15_401_718: (3, 3), 7: (11, 7), 30: (2, 11)}.items():
        assert float(heat[r, c]) == 1.0 and int(zones[r, c]) == i


def test_far_pixels_go_to_the_nearest_parcel() -> None:
    inst = torch.zeros((64, 64), dtype=torch.long)
    inst[0:1, 0:1] = 1
    inst[63:64, 63:64] = 2
    heat, zones = centerness_targets(inst)
    assert float(heat[40, 40]) == 0.0  # both Gaussians underflow here...
    assert int(zones[40, 40]) == 2 and int(zones[20, 20]) == 1  # ...the nearer one wins


def test_empty_map() -> None:
    heat, zones = centerness_targets(torch.zeros((5, 7), dtype=torch.int32))
    assert heat.shape == (5, 7) and float(heat.abs().sum()) == 0.0
    assert zones.shape == (5, 7) and int(zones.abs().sum()) == 0


def test_chunks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(0)
    block = torch.randint(0, 30, (8, 8), generator=g)
    inst = block.repeat_interleave(3, 0).repeat_interleave(3, 1)
    full = centerness_targets(inst)
    monkeypatch.setattr(centerness_module, "_CHUNK_ELEMENTS", 3 * inst.numel())
    chunked = centerness_targets(inst)
    assert torch.equal(full[0], chunked[0]) and torch.equal(full[1], chunked[1])


def test_validation() -> None:
    with pytest.raises(ValueError, match="integer"):
        centerness_targets(torch.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        centerness_targets(torch.zeros((1, 4, 4), dtype=torch.long))
    with pytest.raises(ValueError, match=">= 0"):
        centerness_targets(-torch.ones((4, 4), dtype=torch.long))
    with pytest.raises(ValueError, match="alpha"):
        centerness_targets(one_parcel(), alpha=1.0)
    with pytest.raises(ValueError, match="r must"):
        centerness_targets(one_parcel(), r=0)


def test_matches_the_real_pastis_heatmaps() -> None:
    """The real HEATMAP files follow the same convention (grown box, α = 0.7, r = 3).

    Only ``ParcelIDs`` are available next to them (no TARGET to remove background parcels),
    so a few parcels differ; all the others agree to float32 precision.
    """
    if not (REAL / "INSTANCE_ANNOTATIONS").is_dir():
        pytest.skip(f"real PASTIS heatmaps not available at {REAL}")
    for pid in (10000, 10004):
        ids = np.load(REAL / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy")
        real = np.load(REAL / "INSTANCE_ANNOTATIONS" / f"HEATMAP_{pid}.npy")
        heat, _ = centerness_targets(torch.from_numpy(ids.astype(np.int64)))
        agree = np.abs(heat.numpy().astype(np.float64) - real) < 1e-6
        assert agree.mean() > 0.99, (pid, agree.mean())


# ---- the transform ------------------------------------------------------------------------------


def patch_sample(instances: torch.Tensor, semantic: torch.Tensor | None = None) -> Sample:
    h, w = instances.shape
    values = torch.arange(2 * 3 * h * w, dtype=torch.float32).reshape(2, 3, h, w)
    series = {"S2": TimeSeries(values, torch.tensor([0, 5]))}
    return Sample(series, semantic=semantic, instances=instances, meta={"id": "p"})


def test_centerness_transform() -> None:
    inst = one_parcel()
    out = CenternessTargets()(patch_sample(inst))
    heat, zones = centerness_targets(inst)
    assert out.heatmap is not None and torch.equal(out.heatmap, heat)
    assert out.zones is not None and torch.equal(out.zones, zones)
    assert torch.equal(out.instances, inst)
    semantic = torch.where(inst > 0, 3, 0)
    semantic[3, :] = 0  # first row of the parcel is background
    out = CenternessTargets(background=0)(patch_sample(inst, semantic))
    assert int(out.instances[3].abs().sum()) == 0
    torch.testing.assert_close(out.heatmap, centerness_targets(out.instances)[0])
    assert "background=0" in repr(CenternessTargets(background=0))
    no_instances = Sample({"S2": patch_sample(inst)["S2"]})
    with pytest.raises(SampleError, match="no instances"):
        CenternessTargets()(no_instances)


# ---- spatial transforms of heatmap / zones ------------------------------------------------------


def panoptic_sample() -> Sample:
    inst = torch.zeros((9, 12), dtype=torch.long)  # odd-sized parcels away from the edges
    inst[1:4, 1:6] = 2
    inst[5:8, 3:10] = 5
    heat, zones = centerness_targets(inst)
    return CenternessTargets()(patch_sample(inst)).replace(heatmap=heat, zones=zones)


@pytest.mark.parametrize("op", ["flip0", "flip1", "rot1", "rot2", "rot3"])
def test_flip_rot90_transform_heatmap_and_zones(op: str) -> None:
    s = panoptic_sample()
    if op.startswith("flip"):
        axis = int(op[-1])
        out = flip(s, axis)

        def fn(x: torch.Tensor) -> torch.Tensor:
            return torch.flip(x, dims=(-2 if axis == 0 else -1,))
    else:
        k = int(op[-1])
        out = rot90(s, k)

        def fn(x: torch.Tensor) -> torch.Tensor:
            return torch.rot90(x, k, dims=(-2, -1))

    assert out.heatmap is not None and out.zones is not None
    assert torch.equal(out.heatmap, fn(s.heatmap)) and torch.equal(out.zones, fn(s.zones))
    assert torch.equal(out.instances, fn(s.instances))
    assert out.heatmap.shape == out["S2"].values.shape[-2:]
    # odd-sized parcels away from the edges: the transformed targets are the targets of the
    # transformed instances
    heat, zones = centerness_targets(out.instances)
    torch.testing.assert_close(out.heatmap, heat)
    assert torch.equal(out.zones, zones)


def test_random_flip_rot90_keeps_targets_aligned() -> None:
    s = panoptic_sample()
    g = torch.Generator().manual_seed(1)
    for _ in range(8):
        out = random_flip_rot90(s, g)
        assert out.heatmap is not None and out.zones is not None
        # the image values identify each pixel: targets moved with them
        first = out["S2"].values[0, 0].long()
        w = s.instances.shape[1]
        rows, cols = first // w, first % w
        assert torch.equal(out.heatmap, s.heatmap[rows, cols])
        assert torch.equal(out.zones, s.zones[rows, cols])
