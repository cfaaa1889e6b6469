"""Tests of the synthetic PASTIS-R simulator (layout, determinism, annotations, realism)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from sitsfusion.outputs import MARK
from sitsfusion.simulate import simulate_pastis

N_CH = {"S2": 10, "S1A": 3, "S1D": 3}
DTYPES = {"S2": np.int16, "S1A": np.float32, "S1D": np.float32}
ORIGIN = dt.date(2018, 9, 1)


def _days(dates: dict[str, int]) -> np.ndarray:
    vals = [dates[str(k)] for k in range(len(dates))]
    return np.array([(dt.date(v // 10000, v // 100 % 100, v % 100) - ORIGIN).days for v in vals])


def _features(root: Path) -> list[dict]:
    return json.loads((root / "metadata.geojson").read_text())["features"]


def _parcels(root: Path, modality: str):
    """Per parcel (crop class, dates, mean series [T, C]) over non-void pixels."""
    out = []
    for f in _features(root):
        p = f["properties"]
        pid = p["ID_PATCH"]
        inst = np.load(root / f"INSTANCE_ANNOTATIONS/INSTANCES_{pid}.npy")
        sem = np.load(root / f"ANNOTATIONS/TARGET_{pid}.npy")[0]
        x = np.load(root / f"DATA_{modality}/{modality}_{pid}.npy").astype(np.float64)
        days = _days(p[f"dates-{modality}"])
        for i in range(1, int(inst.max()) + 1):
            m = (inst == i) & (sem != 19)
            if m.sum() < 8:
                continue
            cls = int(np.bincount(sem[m]).argmax())
            out.append((cls, days, x[:, :, m].mean(-1)))
    return out


def _ndvi_curve(parcels, cls: int, grid: np.ndarray) -> np.ndarray:
    curves = [
        np.interp(grid, d, (s[:, 6] - s[:, 2]) / (s[:, 6] + s[:, 2]))
        for c, d, s in parcels
        if c == cls
    ]
    assert curves, f"no parcel of class {cls}"
    return np.mean(curves, axis=0)


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return simulate_pastis(tmp_path_factory.mktemp("sim") / "pastis", patches=10, size=32, seed=0)


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> dict[str, Path]:
    """Cloud-free wheat/corn datasets in two regions."""
    out = {}
    for region in ("west", "south"):
        out[region] = simulate_pastis(
            tmp_path_factory.mktemp(region) / "d",
            patches=4,
            size=48,
            seed=2,
            region=region,
            modalities=("S2",),
            cloud_cover=0.0,
            class_probs={2: 0.5, 3: 0.5},
        )
    return out


# ------------------------------------------------------------------------------------ layout


def test_layout_files_dtypes_shapes(ds: Path) -> None:
    feats = _features(ds)
    assert len(feats) == 10
    for k, f in enumerate(feats):
        p = f["properties"]
        pid = p["ID_PATCH"]
        assert f["id"] == str(k) and f["type"] == "Feature" and p["id"] == str(pid)
        assert pid == 10000 + k and p["SYNTHETIC"] is True and p["REGION"] == "west"
        assert p["TILE"] == "t30uxv" and p["YEAR"] == 2019
        for m in ("S2", "S1A", "S1D"):
            arr = np.load(ds / f"DATA_{m}" / f"{m}_{pid}.npy")
            dates = p[f"dates-{m}"]
            assert list(dates) == [str(i) for i in range(len(dates))]
            assert arr.dtype == DTYPES[m] and arr.shape == (len(dates), N_CH[m], 32, 32)
            assert np.all(np.diff(_days(dates)) > 0)
        assert 38 <= len(p["dates-S2"]) <= 61 and 60 <= len(p["dates-S1A"]) <= 75
        tgt = np.load(ds / f"ANNOTATIONS/TARGET_{pid}.npy")
        assert tgt.dtype == np.uint8 and tgt.shape == (3, 32, 32)
        assert (tgt[0] == tgt[1]).all() and (tgt[0] == tgt[2]).all()
        pids = np.load(ds / f"ANNOTATIONS/ParcelIDs_{pid}.npy")
        assert pids.dtype == np.int32 and pids.shape == (32, 32)
        for name, dtype in (("INSTANCES", np.int64), ("HEATMAP", np.float64), ("ZONES", np.int64)):
            a = np.load(ds / f"INSTANCE_ANNOTATIONS/{name}_{pid}.npy")
            assert a.dtype == dtype and a.shape == (32, 32)
        assert p["N_Parcel"] == int(np.load(ds / f"INSTANCE_ANNOTATIONS/INSTANCES_{pid}.npy").max())
        assert p["Parcel_Cover"] == pytest.approx(float((pids > 0).mean()))
    s2 = np.stack([np.load(ds / f"DATA_S2/S2_{10000 + k}.npy")[:38] for k in range(10)])
    assert 300 < np.median(s2[:, :, 2]) < 2500  # red reflectance × 10⁴
    assert 1500 < np.median(s2[:, :, 6]) < 5000  # NIR


def test_metadata_crs_folds_and_geopandas(ds: Path) -> None:
    gpd = pytest.importorskip("geopandas")
    raw = json.loads((ds / "metadata.geojson").read_text())
    assert raw["type"] == "FeatureCollection"
    assert raw["crs"] == {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    folds = [f["properties"]["Fold"] for f in raw["features"]]
    assert sorted(set(folds)) == [1, 2, 3, 4, 5] and np.bincount(folds)[1:].tolist() == [2] * 5
    gdf = gpd.read_file(ds / "metadata.geojson")
    assert gdf.crs.to_epsg() == 2154 and len(gdf) == 10
    side = gdf.geometry.area.to_numpy() ** 0.5
    assert np.allclose(side, 320.0)  # 32 px × 10 m
    x, y = gdf.geometry.centroid.x.to_numpy(), gdf.geometry.centroid.y.to_numpy()
    assert (300_000 < x).all() and (x < 1_100_000).all() and (6.0e6 < y).all() and (y < 7.2e6).all()
    assert np.ptp(x) < 50_000 and np.ptp(y) < 50_000  # patches of a region are near each other


def test_norm_files(ds: Path) -> None:
    for m in ("S2", "S1A", "S1D"):
        norm = json.loads((ds / f"NORM_{m}_patch.json").read_text())
        assert list(norm) == [f"Fold_{k}" for k in range(1, 6)]
        for v in norm.values():
            assert len(v["mean"]) == N_CH[m] and len(v["std"]) == N_CH[m]
            assert all(s > 0 for s in v["std"])
    # Fold_1 statistics are those of the fold's written arrays.
    fold1 = [f["properties"]["ID_PATCH"] for f in _features(ds) if f["properties"]["Fold"] == 1]
    x = np.concatenate([np.load(ds / f"DATA_S1A/S1A_{i}.npy") for i in fold1]).astype(np.float64)
    norm = json.loads((ds / "NORM_S1A_patch.json").read_text())["Fold_1"]
    assert np.allclose(norm["mean"], x.mean(axis=(0, 2, 3)), atol=1e-6)
    assert np.allclose(norm["std"], x.std(axis=(0, 2, 3)), atol=1e-5)


def test_refuses_non_empty_output(ds: Path, tmp_path: Path) -> None:
    with pytest.raises(FileExistsError, match="not an empty directory"):
        simulate_pastis(ds, patches=1, size=16)
    with pytest.raises(ValueError, match="modalities"):
        simulate_pastis(tmp_path / "x", patches=1, size=16, modalities=("S3",))
    out = simulate_pastis(tmp_path / "y", patches=1, size=16, modalities=("S1D",), progress=True)
    assert not (out / "DATA_S2").exists() and (out / "DATA_S1D/S1D_10000.npy").exists()


# ------------------------------------------------------------------------------- determinism


def _tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file's bytes but the folder's mark (which records when it was written)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARK
    }


def test_deterministic(tmp_path: Path) -> None:
    a = _tree_bytes(simulate_pastis(tmp_path / "a", patches=3, size=16, seed=7))
    b = _tree_bytes(simulate_pastis(tmp_path / "b", patches=3, size=16, seed=7))
    c = _tree_bytes(simulate_pastis(tmp_path / "c", patches=3, size=16, seed=8))
    assert a == b
    assert a.keys() == c.keys()
    assert a["DATA_S2/S2_10000.npy"] != c["DATA_S2/S2_10000.npy"]
    assert a["ANNOTATIONS/TARGET_10000.npy"] != c["ANNOTATIONS/TARGET_10000.npy"]
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary file


# ------------------------------------------------------------------------------- annotations


def test_annotations_consistent(ds: Path) -> None:
    counts = np.zeros(20, dtype=np.int64)
    for f in _features(ds):
        pid = f["properties"]["ID_PATCH"]
        sem = np.load(ds / f"ANNOTATIONS/TARGET_{pid}.npy")[0]
        raw = np.load(ds / f"ANNOTATIONS/ParcelIDs_{pid}.npy")
        inst = np.load(ds / f"INSTANCE_ANNOTATIONS/INSTANCES_{pid}.npy")
        zones = np.load(ds / f"INSTANCE_ANNOTATIONS/ZONES_{pid}.npy")
        heat = np.load(ds / f"INSTANCE_ANNOTATIONS/HEATMAP_{pid}.npy")
        assert sem.max() <= 19
        n = int(inst.max())
        assert n >= 2 and sorted(np.unique(inst[inst > 0])) == list(range(1, n + 1))
        assert set(np.unique(zones).tolist()) <= set(range(n + 1))  # zones are instance ids
        # Same partition: one raw parcel id per instance and vice versa; 0 <-> 0.
        assert ((raw > 0) == (inst > 0)).all()
        pairs = np.unique(np.stack([raw[inst > 0], inst[inst > 0]]), axis=1)
        assert pairs.shape[1] == n and len(np.unique(pairs[0])) == n
        assert (raw[raw > 0] > 10_000_000).all()
        # Background pixels are not in parcels; parcel pixels are never background.
        assert (sem[inst == 0] == 0).all() and (sem[inst > 0] != 0).all()
        # Void border: two 4-adjacent pixels of different parcels are never both labelled.
        for a, b, sa, sb in (
            (inst[1:], inst[:-1], sem[1:], sem[:-1]),
            (inst[:, 1:], inst[:, :-1], sem[:, 1:], sem[:, :-1]),
        ):
            edge = (a != b) & (a > 0) & (b > 0)
            assert ((sa[edge] == 19) | (sb[edge] == 19)).all()
            assert (sa[(a > 0) & (b == 0)] == 19).all() and (sb[(b > 0) & (a == 0)] == 19).all()
        # Heatmap (Eq. 6, as PASTIS): in [0, 1], exactly 1 at every parcel's bounding-box
        # centre, and every parcel is the zone of its own centre.
        assert heat.min() >= 0.0 and heat.max() == 1.0
        for i in np.unique(inst[(inst > 0) & (sem != 0)]):
            ys, xs = np.nonzero(inst == i)
            cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
            assert heat[max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2].max() == 1.0
        assert (heat == 1.0).sum() >= 1
        for i in range(1, n + 1):
            lab = sem[(inst == i) & (sem != 19)]
            counts[np.bincount(lab).argmax() if lab.size else 19] += 1
    assert counts[0] == 0
    assert np.argmax(counts[1:19]) == 0, counts  # meadow is the most frequent crop
    assert counts[19] < counts.sum() * 0.2


def test_tiny_patches_have_parcels(tmp_path: Path) -> None:
    out = simulate_pastis(tmp_path / "t", patches=6, size=16, seed=3, modalities=("S2",))
    for f in _features(out):
        assert f["properties"]["N_Parcel"] >= 2


# ---------------------------------------------------------------------------------- realism


def test_ndvi_phenology(crops: dict[str, Path]) -> None:
    parcels = _parcels(crops["west"], "S2")
    may, aug = _ndvi_curve(parcels, 2, np.array([250, 262])), _ndvi_curve(parcels, 2, [340, 355])
    assert may.mean() > 0.65 and aug.mean() < 0.45 and may.mean() > aug.mean() + 0.3
    jul, mar = _ndvi_curve(parcels, 3, np.array([310, 325])), _ndvi_curve(parcels, 3, [190, 200])
    assert jul.mean() > 0.7 and jul.mean() > mar.mean() + 0.3


def test_region_shifts_phenology(crops: dict[str, Path]) -> None:
    grid = np.arange(150, 420)
    for cls, after in ((2, 150), (3, 240)):
        onset = {}
        for region, root in crops.items():
            curve = _ndvi_curve(_parcels(root, "S2"), cls, grid)
            onset[region] = grid[np.argmax((curve > 0.6) & (grid > after))]
        assert onset["south"] < onset["west"] - 7, (cls, onset)


def test_clouds_hurt_s2_only(tmp_path: Path) -> None:
    kw = {"patches": 2, "size": 32, "seed": 4, "modalities": ("S2", "S1A")}
    clear = simulate_pastis(tmp_path / "clear", cloud_cover=0.0, **kw)
    cloudy = simulate_pastis(tmp_path / "cloudy", cloud_cover=0.6, **kw)
    assert _features(clear) == _features(cloudy)  # same dates, folds, parcels
    for pid in (10000, 10001):
        s1 = [(r / f"DATA_S1A/S1A_{pid}.npy").read_bytes() for r in (clear, cloudy)]
        assert s1[0] == s1[1]  # radar sees through clouds
        a = np.load(clear / f"DATA_S2/S2_{pid}.npy").astype(np.int64)
        b = np.load(cloudy / f"DATA_S2/S2_{pid}.npy").astype(np.int64)
        cloud = b[:, 0] - a[:, 0] > 1500
        assert 0.1 < cloud.mean() < 0.9
        veg = ~cloud & ((a[:, 6] - a[:, 2]) / (a[:, 6] + a[:, 2]) > 0.6)
        assert b[:, 0][cloud].mean() > 2.0 * b[:, 0][veg].mean()
        flat = b.transpose(1, 0, 2, 3)[:, cloud].mean(-1)  # clouds: bright, spectrally flat
        assert flat.min() > 2500 and flat[:8].max() < 1.5 * flat[:8].min()
        assert ((b[:, 0] - a[:, 0]) < -300).any()  # cloud shadows darken the ground


def test_s1_values(ds: Path) -> None:
    for f in _features(ds)[:4]:
        pid = f["properties"]["ID_PATCH"]
        inst = np.load(ds / f"INSTANCE_ANNOTATIONS/INSTANCES_{pid}.npy")
        for m in ("S1A", "S1D"):
            x = np.load(ds / f"DATA_{m}/{m}_{pid}.npy")
            assert np.isfinite(x).all()
            vv, vh = x[:, 0][:, inst > 0], x[:, 1][:, inst > 0]
            assert -25 < np.percentile(vv, 1) and np.percentile(vv, 99) < 0
            assert -20 < vv.mean() < -6 and -26 < vh.mean() < -12
            assert np.allclose(x[:, 2], x[:, 0] - x[:, 1], atol=1e-4)
    # Descending orbit (steeper look here) is darker than ascending over bare soil in winter.
    a = json.loads((ds / "NORM_S1A_patch.json").read_text())["Fold_1"]["mean"][0]
    d = json.loads((ds / "NORM_S1D_patch.json").read_text())["Fold_1"]["mean"][0]
    assert 0.3 < a - d < 2.5


def test_wheat_vs_durum_separable_by_s1_not_s2(tmp_path: Path) -> None:
    root = simulate_pastis(
        tmp_path / "w",
        patches=6,
        size=48,
        seed=3,
        modalities=("S2", "S1A"),
        cloud_cover=0.0,
        class_probs={2: 0.5, 11: 0.5},
    )
    grid = np.arange(200, 330, 8)  # March..July, when wheat and durum differ (if at all)
    feats: dict[str, list[np.ndarray]] = {"S2": [], "S1A": []}
    labels = []
    for m in feats:
        rows = [(c, d, s) for c, d, s in _parcels(root, m) if c in (2, 11)]
        chans = 10 if m == "S2" else 2
        feats[m] = [
            np.concatenate([np.interp(grid, d, s[:, k]) for k in range(chans)]) for _, d, s in rows
        ]
        labels = [c for c, _, _ in rows]
    y = np.array(labels)
    assert (y == 2).sum() >= 10 and (y == 11).sum() >= 10

    def loo_nearest_mean(x: np.ndarray) -> float:
        x = (x - x.mean(0)) / (x.std(0) + 1e-9)
        hits = 0
        for i in range(len(y)):
            rest = np.arange(len(y)) != i
            dist = {c: ((x[i] - x[rest & (y == c)].mean(0)) ** 2).sum() for c in (2, 11)}
            hits += min(dist, key=dist.get) == y[i]
        return hits / len(y)

    acc_s1 = loo_nearest_mean(np.array(feats["S1A"]))
    acc_s2 = loo_nearest_mean(np.array(feats["S2"]))
    assert acc_s1 > 0.7 and acc_s1 > acc_s2 + 0.1, (acc_s1, acc_s2)
