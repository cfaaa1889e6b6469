"""Sen4AgriNet: the simulator's netCDF files (synthetic) and the lazy PAD reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from sitsfusion.data.readers.sen4agrinet import ALL_BANDS, Sen4AgriNet, parse_patch_name
from sitsfusion.data.taxonomy import encode_codes, load_nomenclature
from sitsfusion.errors import DatasetError
from sitsfusion.simulate.sen4agrinet import RESOLUTION, simulate_sen4agrinet

SIZE = 36


@pytest.fixture(scope="module")
def s4a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("s4a")
    simulate_sen4agrinet(out, patches=2, size=SIZE, seed=4, region="catalonia", year=2019)
    simulate_sen4agrinet(out, patches=1, size=SIZE, seed=4, region="france", year=2020)
    return out


def _copy(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / src.name
    dst.write_bytes(src.read_bytes())
    return dst


def test_simulated_files_follow_the_published_layout(s4a: Path) -> None:
    files = sorted(s4a.glob("*.nc"))
    assert len(files) == 3
    for path in files:
        year, tile, i, j = parse_patch_name(path.stem)
        assert 0 <= i < 30 and 0 <= j < 30
        with h5py.File(path, "r") as f:
            assert set(f) == {*ALL_BANDS, "labels", "parcels"}
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            assert attrs["title"] == "S4A Patch Dataset"
            assert attrs["patch_year"] == str(year) and attrs["patch_tile"] == tile
            assert attrs["patch_country_code"] in ("ES", "FR")
            assert attrs["synthetic"] == "true"
            t_n = f["B02"]["B02"].shape[0]
            assert 24 <= t_n <= 73
            for band in ALL_BANDS:
                n = SIZE * 10 // RESOLUTION[band]
                assert f[band][band].shape == (t_n, n, n), band
                assert f[band][band].dtype == np.uint16
            assert f["labels"]["labels"].shape == (SIZE, SIZE)
            assert f["labels"]["labels"].dtype == np.uint32
            assert f["parcels"]["parcels"].dtype == np.uint32


def test_simulator_is_deterministic_and_regions_differ(tmp_path: Path) -> None:
    a = simulate_sen4agrinet(tmp_path / "a", patches=1, size=24, seed=9, region="france")
    b = simulate_sen4agrinet(tmp_path / "b", patches=1, size=24, seed=9, region="france")
    with h5py.File(a[0], "r") as fa, h5py.File(b[0], "r") as fb:
        assert np.array_equal(fa["B04"]["B04"][:], fb["B04"]["B04"][:])
        assert np.array_equal(fa["labels"]["labels"][:], fb["labels"]["labels"][:])
    with pytest.raises(ValueError, match="multiple of 6"):
        simulate_sen4agrinet(tmp_path / "c", patches=1, size=25)
    with pytest.raises(ValueError, match="unknown Sen4AgriNet region"):
        simulate_sen4agrinet(tmp_path / "c", patches=1, size=24, region="mars")


def test_reader_windows_values_and_targets(s4a: Path) -> None:
    ds = Sen4AgriNet(s4a, subpatch=12)
    assert len(ds) == 3 * (SIZE // 12) ** 2
    nom = load_nomenclature("sen4agrinet")
    index = 4  # second row, second column of the first patch
    sample = ds[index]
    ts = sample["S2"]
    r0, c0, side = sample.meta["window"]
    assert (r0, c0, side) == (12, 12, 12)
    assert ts.values.shape == (ts.num_dates, 13, 12, 12)
    path = ds.patches[0].path
    with h5py.File(path, "r") as f:
        b04 = f["B04"]["B04"][:, r0 : r0 + side, c0 : c0 + side]
        b05 = f["B05"]["B05"][:].repeat(2, axis=1).repeat(2, axis=2)
        b09 = f["B09"]["B09"][:].repeat(6, axis=1).repeat(6, axis=2)
        codes = f["labels"]["labels"][r0 : r0 + side, c0 : c0 + side]
        parcels = f["parcels"]["parcels"][r0 : r0 + side, c0 : c0 + side]
        days = f["B02"]["time"][:]
        units = f["B02"]["time"].attrs["units"]
    c = {b: k for k, b in enumerate(ALL_BANDS)}
    torch.testing.assert_close(ts.values[:, c["B04"]], torch.from_numpy(b04 * 1e-4).float())
    window = (slice(None), slice(r0, r0 + side), slice(c0, c0 + side))
    torch.testing.assert_close(ts.values[:, c["B05"]], torch.from_numpy(b05[window] * 1e-4).float())
    torch.testing.assert_close(ts.values[:, c["B09"]], torch.from_numpy(b09[window] * 1e-4).float())
    expected_ids = encode_codes(codes.astype(np.int64), nom)
    assert torch.equal(sample.semantic, torch.from_numpy(expected_ids))
    assert torch.equal(sample.instances, torch.from_numpy(parcels.astype(np.int64)))
    # dates: days since 1 January of the patch year, from the CF time coordinate
    origin = dt.date.fromisoformat(
        str(units.decode() if isinstance(units, bytes) else units)[11:21]
    )
    first = (origin - dt.date(int(sample.meta["year"]), 1, 1)).days + int(days[0])
    assert int(ts.dates[0]) == first
    assert torch.all(ts.dates[1:] > ts.dates[:-1])
    assert sample.meta["region"] == "catalonia" and sample.meta["synthetic"] is True
    # georeferencing: the window's affine from the x / y coordinates, the tile's UTM zone
    with h5py.File(path, "r") as f:
        x, y = f["B02"]["x"][:], f["B02"]["y"][:]
    a, b, c_, d, e, f_ = sample.meta["transform"]
    assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0)
    assert c_ == x[c0] - 5.0 and f_ == y[r0] + 5.0
    assert sample.meta["crs"] == f"EPSG:326{sample.meta['tile'][:2]}"


def test_band_selection_whole_patches_and_groups(s4a: Path) -> None:
    ds = Sen4AgriNet(s4a, bands=["B02", "B03", "B04", "B08"], subpatch=None)
    assert len(ds) == 3
    assert ds[0]["S2"].values.shape[1:] == (4, SIZE, SIZE)
    assert sorted(set(ds.groups.tolist())) == ["catalonia/2019", "france/2020"]
    assert len(set(ds.clusters.tolist())) == 3
    counts = ds.label_counts()
    assert counts.sum() == 3 * SIZE * SIZE
    assert counts[1:].sum() > 0  # some of the 11 crops are present
    assert ds.class_names[0] == "Background" and len(ds.class_names) == 12


def test_reads_are_lazy_hyperslabs(s4a: Path) -> None:
    """Asking for a sub-patch reads only its window of each band, never a whole array."""
    ds = Sen4AgriNet(s4a, subpatch=12)
    shapes: list[tuple[int, ...]] = []

    class Spy:
        def __init__(self, node: object) -> None:
            self.node = node

        def __getitem__(self, key: object) -> object:
            out = self.node[key]
            if isinstance(out, np.ndarray):
                shapes.append(out.shape)
                return out
            return Spy(out)

    real = ds._file
    ds._file = lambda k: Spy(real(k))  # type: ignore[method-assign]
    ds[4]
    assert shapes
    assert max(s[-1] for s in shapes) <= 12
    assert max(s[-2] for s in shapes) <= 12


def _edit(path: Path, fn) -> None:
    with h5py.File(path, "r+") as f:
        fn(f)


def test_bad_files_give_clear_errors(s4a: Path, tmp_path: Path) -> None:
    src = sorted(s4a.glob("*.nc"))[0]

    cases = {
        "missing group\\(s\\) \\['B05'\\]": lambda f: f.__delitem__("B05"),
        "missing group\\(s\\) \\['labels'\\]": lambda f: f.__delitem__("labels"),
    }
    for k, (message, edit) in enumerate(cases.items()):
        folder = tmp_path / f"case{k}"
        folder.mkdir()
        bad = _copy(src, folder)
        _edit(bad, edit)
        with pytest.raises(DatasetError, match=message) as info:
            Sen4AgriNet(folder)
        assert bad.name in str(info.value)

    # a crop code outside the FAO-ICC taxonomy: named when the item is read
    folder = tmp_path / "code"
    folder.mkdir()
    bad = _copy(src, folder)

    def unknown_code(f: h5py.File) -> None:
        labels = f["labels"]["labels"][:]
        labels[0, 0] = 123
        f["labels"]["labels"][:] = labels

    _edit(bad, unknown_code)
    ds = Sen4AgriNet(folder, subpatch=12)
    with pytest.raises(DatasetError, match=r"123") as info:
        ds[0]
    assert bad.name in str(info.value)

    # dates out of order
    folder = tmp_path / "dates"
    folder.mkdir()
    bad = _copy(src, folder)

    def shuffle_dates(f: h5py.File) -> None:
        t = f["B02"]["time"][:]
        f["B02"]["time"][:] = t[::-1]

    _edit(bad, shuffle_dates)
    with pytest.raises(DatasetError, match="strictly increasing"):
        Sen4AgriNet(folder)

    # a name that is not <year>_<tile>_patch_<i>_<j>.nc, an empty folder, a bad window
    folder = tmp_path / "name"
    folder.mkdir()
    (folder / "patch.nc").write_bytes(src.read_bytes())
    with pytest.raises(DatasetError, match="not a Sen4AgriNet patch name"):
        Sen4AgriNet(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no Sen4AgriNet patch"):
        Sen4AgriNet(empty)
    with pytest.raises(DatasetError, match="not a multiple of subpatch"):
        Sen4AgriNet(s4a, subpatch=10)
    with pytest.raises(ValueError, match="subset of"):
        Sen4AgriNet(s4a, bands=["B02", "B13"])


def test_monthly_medians_of_a_patch(s4a: Path) -> None:
    from sitsfusion.data.binning import MonthlyMedian

    ds = Sen4AgriNet(s4a, bands=["B04", "B08"], subpatch=12, transform=MonthlyMedian())
    ts = ds[0]["S2"]
    assert ts.values.shape == (6, 2, 12, 12)  # April..September (seed 004 Sec. VI)
    assert torch.isfinite(ts.values).all()


@pytest.mark.slow
def test_regions_shift_phenology(tmp_path: Path) -> None:
    """Catalonia greens up and is harvested about two weeks before France (synthetic)."""

    def peak_day(region: str) -> float:
        files = simulate_sen4agrinet(
            tmp_path / region, patches=2, size=60, seed=1, region=region, cloud_cover=0.0
        )
        days, ndvi = [], []
        for path in files:
            ds = Sen4AgriNet(path.parent, files=[path], bands=["B04", "B08"], subpatch=None)
            s = ds[0]
            wheat_barley = np.isin(s.semantic.numpy(), [1, 4])  # wheat, barley (winter cereals)
            red, nir = s["S2"].values[:, 0].numpy(), s["S2"].values[:, 1].numpy()
            v = ((nir - red) / (nir + red + 1e-6))[:, wheat_barley].mean(axis=1)
            days.append(s["S2"].dates.numpy())
            ndvi.append(v)
        d, v = np.concatenate(days), np.concatenate(ndvi)
        senesced = d[(d > 120) & (v < 0.5 * v.max())]  # after the spring peak
        return float(senesced.min())

    assert peak_day("catalonia") + 7 < peak_day("france")
