"""Tests of the PASTIS / PASTIS-R reader on a tiny generated dataset and on real metadata."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from pastis_fixture import FIRST_ID, parcel_boxes, write_pastis

from paths import SHARED_DATA
from sitsfusion.data import collate
from sitsfusion.data.readers.pastis import (
    PASTIS,
    PASTISParcels,
    compute_norm,
    dates_to_days,
    load_annotation,
    pool_norm,
    read_metadata,
    read_norm,
)
from sitsfusion.errors import DatasetError

REAL = SHARED_DATA / "pastis_metadata_real"
ALL = ("S2", "S1A", "S1D")


@pytest.fixture(scope="module")
def pastis_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention dataset shared by the tests that do not modify it."""
    return write_pastis(tmp_path_factory.mktemp("pastis"))


@pytest.fixture
def fresh_root(tmp_path: Path) -> Path:
    """A dataset a test may break."""
    return write_pastis(tmp_path / "pastis")


def raw(root: Path, folder: str, name: str) -> np.ndarray:
    return np.load(root / folder / name)


def edit_metadata(root: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = root / "metadata.geojson"
    collection = json.loads(path.read_text())
    edit(collection)
    path.write_text(json.dumps(collection))


def fold_of(pid: int) -> int:
    return (pid - FIRST_ID) % 5 + 1


# ---- target modes -----------------------------------------------------------------------------


def test_semantic_mode(pastis_root: Path) -> None:
    ds = PASTIS(pastis_root, modalities=ALL)
    assert len(ds) == 5
    assert ds.patch_ids == [FIRST_ID + i for i in range(5)]
    s = ds[1]
    pid = FIRST_ID + 1
    for m in ALL:
        ts = s[m]
        expected = raw(pastis_root, f"DATA_{m}", f"{m}_{pid}.npy")
        assert ts.values.dtype == torch.float32
        assert ts.dates.dtype == torch.int64
        assert tuple(ts.values.shape) == expected.shape
        np.testing.assert_array_equal(ts.values.numpy(), expected.astype(np.float32))
        assert ts.source is not None and ts.source.endswith(f"{m}_{pid}.npy")
    target = raw(pastis_root, "ANNOTATIONS", f"TARGET_{pid}.npy")
    assert s.semantic is not None and s.semantic.dtype == torch.long
    np.testing.assert_array_equal(s.semantic.numpy(), target[0])
    assert s.instances is None and s.label is None
    assert s.meta["id"] == pid and s.meta["fold"] == 2 and s.meta["tile"] == "t30uxv"
    assert s.meta["dataset"] == "PASTIS" and s.meta["reference_date"] == "2018-09-01"
    assert s.meta["region"] == "test"  # extra property passed through
    assert ds.class_names[0] == "Background" and len(ds.class_names) == 20
    assert ds.num_channels("S2") == 10 and ds.num_channels("S1A") == 3


def test_instance_mode(pastis_root: Path) -> None:
    ds = PASTIS(pastis_root, modalities=("S2",), target="instance")
    s = ds[0]
    expected = raw(pastis_root, "INSTANCE_ANNOTATIONS", f"INSTANCES_{FIRST_ID}.npy")
    assert s.instances is not None and s.instances.dtype == torch.long
    np.testing.assert_array_equal(s.instances.numpy(), expected)
    assert s.semantic is not None


def test_folds(pastis_root: Path) -> None:
    ds = PASTIS(pastis_root, folds=[1, 3])
    assert ds.patch_ids == [FIRST_ID, FIRST_ID + 2]
    assert sorted(ds.metadata["Fold"].tolist()) == [1, 3]
    assert [ds[i].meta["fold"] for i in range(len(ds))] == [1, 3]


def test_modality_selection(pastis_root: Path) -> None:
    ds = PASTIS(pastis_root, modalities="S1D")
    assert ds[0].modalities == ["S1D"]
    ds = PASTIS(pastis_root, modalities=("S1A", "S2"))
    assert sorted(ds[0].modalities) == ["S1A", "S2"]
    with pytest.raises(KeyError):
        ds.num_channels("S1D")


def test_dates_are_days_since_reference(pastis_root: Path) -> None:
    ds = PASTIS(pastis_root)
    assert int(ds[0]["S2"].dates[0]) == 23  # 2018-09-24
    meta = read_metadata(pastis_root)
    yyyymmdd = meta.at[FIRST_ID, "dates-S2"]
    assert int(yyyymmdd[0]) == 20180924
    np.testing.assert_array_equal(ds.dates("S2", FIRST_ID).numpy(), dates_to_days(yyyymmdd))
    other = PASTIS(pastis_root, reference_date="2018-09-24")
    assert int(other.dates("S2", FIRST_ID)[0]) == 0


def test_dates_far_from_reference_are_kept(fresh_root: Path) -> None:
    def far(collection: dict[str, Any]) -> None:
        dates = collection["features"][0]["properties"]["dates-S2"]
        dates["0"] = 20170101  # day -608
        dates[str(len(dates) - 1)] = 20201231  # day 852
        # the reference loader's −200..599 window would drop both

    edit_metadata(fresh_root, far)
    s = PASTIS(fresh_root)[0]
    assert int(s["S2"].dates[0]) == -608 and int(s["S2"].dates[-1]) == 852
    assert s["S2"].num_dates == np.load(fresh_root / "DATA_S2" / f"S2_{FIRST_ID}.npy").shape[0]


def test_dates_as_json_strings(tmp_path: Path, pastis_root: Path) -> None:
    root = write_pastis(tmp_path / "p", dates_as_json_string=True)
    assert isinstance(
        json.loads(root.joinpath("metadata.geojson").read_text())["features"][0]["properties"][
            "dates-S2"
        ],
        str,
    )
    meta_str, meta_dict = read_metadata(root), read_metadata(pastis_root)
    for pid in meta_dict.index:
        np.testing.assert_array_equal(meta_str.at[pid, "dates-S1A"], meta_dict.at[pid, "dates-S1A"])
    assert int(PASTIS(root)[0]["S2"].dates[0]) == 23


# ---- normalisation ----------------------------------------------------------------------------


def test_statistics_pool_the_norm_files_of_the_folds(pastis_root: Path) -> None:
    """The statistics a reader publishes: the NORM files pooled over its samples' folds."""
    train = PASTIS(pastis_root, folds=[1, 2, 3], modalities=("S2", "S1A"))
    stats = read_norm(pastis_root / "NORM_S2_patch.json")
    mean, std = pool_norm(stats, [1, 2, 3])
    published = train.statistics()
    np.testing.assert_array_equal(published["S2"][0].numpy(), mean)
    np.testing.assert_array_equal(published["S2"][1].numpy(), std)
    assert published["S1A"][0].shape == (3,)
    # a subset of the samples: the folds of those samples only (patch 2 is in fold 3)
    np.testing.assert_array_equal(train.statistics([2])["S2"][0].numpy(), stats[3][0])
    # parcels: the folds of the parcels' patches
    parcels = PASTISParcels(pastis_root, folds=[1, 2, 3])
    torch.testing.assert_close(parcels.statistics()["S2"], published["S2"])
    # the reference behaviour (the val fold's own statistics) is something else
    own_mean, _ = stats[5]
    assert not np.allclose(published["S2"][0].numpy(), own_mean, atol=1e-2)


def test_values_are_as_stored(pastis_root: Path) -> None:
    s = PASTIS(pastis_root, folds=[5], modalities=("S2",))[0]
    x = raw(pastis_root, "DATA_S2", f"S2_{FIRST_ID + 4}.npy").astype(np.float32)
    np.testing.assert_array_equal(s["S2"].values.numpy(), x)  # readers never normalise


def test_pooled_statistics_formula() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.normal(loc, scale, size=(1000, 3)) for loc, scale in [(0, 1), (5, 2), (-3, 0.5)]]
    stats = {k + 1: (p.mean(axis=0), p.std(axis=0)) for k, p in enumerate(parts)}
    mean, std = pool_norm(stats, [1, 2, 3])
    union = np.concatenate(parts)  # equal-size folds: equal weights are exact
    np.testing.assert_allclose(mean, union.mean(axis=0))
    np.testing.assert_allclose(std, union.std(axis=0))
    # explicit formula, and it is not the average of the stds (the reference's choice)
    means = np.stack([stats[k][0] for k in (1, 2, 3)])
    stds = np.stack([stats[k][1] for k in (1, 2, 3)])
    pooled_var = (stds**2 + means**2).mean(axis=0) - means.mean(axis=0) ** 2
    np.testing.assert_allclose(std, np.sqrt(pooled_var))
    assert not np.allclose(std, stds.mean(axis=0))
    _, one_std = pool_norm(stats, [2])
    np.testing.assert_array_equal(one_std, stats[2][1])
    with pytest.raises(KeyError):
        pool_norm(stats, [4])


def test_norm_fallback_computes_and_writes(fresh_root: Path) -> None:
    path = fresh_root / "NORM_S1A_patch.json"
    path.unlink()
    ds = PASTIS(fresh_root, folds=[2], modalities=("S1A",))
    assert not path.exists()  # nothing is computed until the statistics are asked for
    with pytest.warns(UserWarning, match="computing"):
        published = ds.statistics()
    assert path.is_file()
    written = json.loads(path.read_text())
    assert path.read_text().startswith('{\n    "Fold_1"')  # json, indent 4, like the real files
    assert sorted(written) == [f"Fold_{k}" for k in range(1, 6)]
    for k in range(1, 6):
        pids = [p for p in range(FIRST_ID, FIRST_ID + 5) if fold_of(p) == k]
        x = np.concatenate(
            [
                np.moveaxis(np.load(fresh_root / "DATA_S1A" / f"S1A_{p}.npy"), 1, 0).reshape(3, -1)
                for p in pids
            ],
            axis=1,
        ).astype(np.float64)
        np.testing.assert_allclose(written[f"Fold_{k}"]["mean"], x.mean(axis=1), rtol=1e-10)
        np.testing.assert_allclose(written[f"Fold_{k}"]["std"], x.std(axis=1), rtol=1e-10)
    assert compute_norm(fresh_root, "S1A", write=False) == written
    torch.testing.assert_close(
        published["S1A"][0], torch.tensor(written["Fold_2"]["mean"], dtype=torch.float64)
    )


def test_compute_norm_pools_patches_of_a_fold(tmp_path: Path) -> None:
    root = write_pastis(tmp_path / "p", n_patches=10, modalities=("S2",))
    stats = compute_norm(root, "S2", write=False)
    x = np.concatenate(
        [np.load(root / "DATA_S2" / f"S2_{p}.npy") for p in (FIRST_ID, FIRST_ID + 5)]
    ).astype(np.float64)  # fold 1 = patches 0 and 5 (different T)
    np.testing.assert_allclose(stats["Fold_1"]["mean"], x.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(stats["Fold_1"]["std"], x.std(axis=(0, 2, 3)), rtol=1e-10)


# ---- cache and transform ----------------------------------------------------------------------


def test_cache_gives_identical_samples(pastis_root: Path) -> None:
    cases: list[tuple[type[PASTIS] | type[PASTISParcels], dict[str, Any]]] = [
        (PASTIS, {"target": "instance"}),
        (PASTISParcels, {"sample_pixels": "fixed"}),
    ]
    for cls, kwargs in cases:
        plain = cls(pastis_root, modalities=ALL, **kwargs)
        cached = cls(pastis_root, modalities=ALL, cache=True, **kwargs)
        for i in (0, 1, 0):
            a, b = plain[i], cached[i]
            for m in ALL:
                torch.testing.assert_close(a[m].values, b[m].values, rtol=0, atol=0)
                torch.testing.assert_close(a[m].dates, b[m].dates)
            assert a.label == b.label
        assert cached._cache  # something was cached


def test_transform_applied_last(pastis_root: Path) -> None:
    seen = []

    def transform(sample: Any) -> Any:
        seen.append(sample)
        return sample.replace(label=99)

    ds = PASTIS(pastis_root, transform=transform)
    assert ds[0].label == 99
    x = raw(pastis_root, "DATA_S2", f"S2_{FIRST_ID}.npy").astype(np.float32)
    np.testing.assert_array_equal(seen[0]["S2"].values.numpy(), x)  # raw values, then transform


# ---- parcel mode ------------------------------------------------------------------------------


def test_parcel_index_labels_and_skips(pastis_root: Path) -> None:
    ds = PASTISParcels(pastis_root)
    assert len(ds) == 4 * 5  # parcels 1, 2, 3, 5 of each patch
    assert ds.n_skipped_parcels == 5  # the void parcel 4 of each patch
    assert len(ds.class_names) == 18 and ds.class_names[0] == "Meadow"
    table = ds.parcels
    for pid in ds.patch_ids:
        semantic = raw(pastis_root, "ANNOTATIONS", f"TARGET_{pid}.npy")[0]
        rows = table[table.patch_id == pid].set_index("parcel_id")
        assert sorted(rows.index) == [1, 2, 3, 5]
        for inst, (r0, r1, c0, c1) in parcel_boxes(16).items():
            if inst == 4:
                continue
            # parcel 5: majority crop = its bottom-right pixel's class (first row void)
            assert rows.at[inst, "class_id"] == semantic[r1 - 1, c1 - 1]
            assert rows.at[inst, "label"] == semantic[r1 - 1, c1 - 1] - 1
            assert rows.at[inst, "n_pixels"] == (r1 - r0) * (c1 - c0)
            assert tuple(rows.loc[inst, ["row0", "row1", "col0", "col1"]]) == (r0, r1, c0, c1)
    labels = [ds[i].label for i in range(len(ds))]
    np.testing.assert_array_equal(labels, table["label"].to_numpy())


def test_parcel_pixels_same_across_modalities(pastis_root: Path) -> None:
    ds = PASTISParcels(pastis_root, modalities=ALL, n_pixels=8)
    table = ds.parcels
    for i in range(len(ds)):
        s = ds[i]
        pid, parcel = s.meta["patch_id"], s.meta["parcel_id"]
        assert (pid, parcel) == (table.patch_id[i], table.parcel_id[i])
        assert s.meta["fold"] == fold_of(pid) and s.meta["n_pixels_total"] == table.n_pixels[i]
        index = s.meta["pixel_index"].numpy()
        inst = raw(pastis_root, "INSTANCE_ANNOTATIONS", f"INSTANCES_{pid}.npy").reshape(-1)
        assert (inst[index] == parcel).all()  # the parcel's own pixels
        for m in ALL:
            ts = s[m]
            data = raw(pastis_root, f"DATA_{m}", f"{m}_{pid}.npy")
            t, c = data.shape[:2]
            assert tuple(ts.values.shape) == (t, c, 8)
            expected = data.reshape(t, c, -1)[:, :, index].astype(np.float32)
            np.testing.assert_array_equal(ts.values.numpy(), expected)  # same pixels for all m


def test_parcel_pixel_sampling(pastis_root: Path) -> None:
    table = PASTISParcels(pastis_root).parcels
    big = int(np.flatnonzero(table.n_pixels.to_numpy() == 48)[0])  # parcel 2 of patch 0
    torch.manual_seed(0)
    rand = PASTISParcels(pastis_root, n_pixels=8)
    draws = [tuple(rand[big].meta["pixel_index"].tolist()) for _ in range(5)]
    assert len(set(draws)) > 1  # new pixels at each access
    assert all(len(set(d)) == 8 for d in draws)  # without replacement
    assert all(rand[big]["S2"].mask.all() for _ in range(2))
    torch.manual_seed(0)
    assert [tuple(rand[big].meta["pixel_index"].tolist()) for _ in range(5)] == draws

    fixed = PASTISParcels(pastis_root, n_pixels=8, sample_pixels="fixed")
    again = PASTISParcels(pastis_root, n_pixels=8, sample_pixels="fixed")
    other = PASTISParcels(pastis_root, n_pixels=8, sample_pixels="fixed", seed=1)
    first = fixed[big].meta["pixel_index"]
    assert torch.equal(first, fixed[big].meta["pixel_index"])
    assert torch.equal(first, again[big].meta["pixel_index"])
    assert not torch.equal(first, other[big].meta["pixel_index"])
    # fixed pixels do not depend on which folds are loaded
    fold1 = PASTISParcels(pastis_root, folds=[1], n_pixels=8, sample_pixels="fixed")
    assert torch.equal(first, fold1[big].meta["pixel_index"])

    everything = PASTISParcels(pastis_root, n_pixels=None)
    s = everything[big]
    assert s["S2"].values.shape[-1] == 48 and s["S2"].mask is None


def test_small_parcel_repeats_are_masked(pastis_root: Path) -> None:
    ds = PASTISParcels(pastis_root, modalities=("S2", "S1D"), n_pixels=8)
    small = int(np.flatnonzero(ds.parcels.n_pixels.to_numpy() == 4)[0])
    s = ds[small]
    index = s.meta["pixel_index"].numpy()
    assert len(set(index[:4])) == 4 and set(index[4:]) <= set(index[:4])
    for m in ("S2", "S1D"):
        mask = s[m].mask
        assert mask is not None and tuple(mask.shape) == (s[m].num_dates, 8)
        assert mask[:, :4].all() and not mask[:, 4:].any()


def test_collate_parcel_samples(pastis_root: Path) -> None:
    ds = PASTISParcels(pastis_root, modalities=("S2", "S1A"), n_pixels=8)
    samples = [ds[i] for i in range(6)]
    batch = collate(samples)
    assert batch.label is not None and batch.label.tolist() == [s.label for s in samples]
    t_max = max(s["S2"].num_dates for s in samples)
    assert tuple(batch["S2"].values.shape) == (6, t_max, 10, 8)
    assert batch["S1A"].mask is not None and tuple(batch["S1A"].mask.shape[::2]) == (6, 8)


def test_parcel_ids_fallback_without_instances(fresh_root: Path) -> None:
    shutil.rmtree(fresh_root / "INSTANCE_ANNOTATIONS")
    ds = PASTISParcels(fresh_root)
    assert len(ds) == 20 and ds.n_skipped_parcels == 5
    assert set(ds.parcels.parcel_id[ds.parcels.patch_id == FIRST_ID]) == {
        5_000_000 + k for k in (1, 2, 3, 5)
    }
    assert ds[0].meta["parcel_id"] > 5_000_000
    with pytest.raises(DatasetError, match=r"INSTANCES_10000\.npy: missing"):
        PASTIS(fresh_root, target="instance")


# ---- bad input --------------------------------------------------------------------------------


def expect_error(match_path: str, problem: str, build: Callable[[], Any]) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        build()
    message = str(info.value)
    assert match_path in message.split(":")[0], message  # the message starts with the file
    assert problem in message, message
    return info.value


def test_error_missing_root(tmp_path: Path) -> None:
    expect_error("nowhere", "does not exist", lambda: PASTIS(tmp_path / "nowhere"))


def test_error_missing_metadata(fresh_root: Path) -> None:
    (fresh_root / "metadata.geojson").unlink()
    expect_error("metadata.geojson", "missing", lambda: PASTIS(fresh_root))


def test_error_missing_modality_folder(fresh_root: Path) -> None:
    shutil.rmtree(fresh_root / "DATA_S1A")
    err = expect_error(
        "DATA_S1A",
        "modality folder missing; this dataset has S1D, S2",
        lambda: PASTIS(fresh_root, modalities=("S2", "S1A")),
    )
    assert err.path == fresh_root / "DATA_S1A"


def test_error_metadata_without_modality_dates(tmp_path: Path) -> None:
    root = write_pastis(tmp_path / "p", modalities=("S2",))
    (root / "DATA_S1A").mkdir()
    expect_error(
        "metadata.geojson",
        "no 'dates-S1A' property",
        lambda: PASTIS(root, modalities=("S2", "S1A")),
    )


def test_error_missing_patch_file(fresh_root: Path) -> None:
    (fresh_root / "DATA_S2" / "S2_10003.npy").unlink()
    expect_error(
        "S2_10003.npy", "missing (patch 10003 is in metadata.geojson)", lambda: PASTIS(fresh_root)
    )


def test_error_missing_target_file(fresh_root: Path) -> None:
    (fresh_root / "ANNOTATIONS" / "TARGET_10002.npy").unlink()
    expect_error("TARGET_10002.npy", "missing (patch 10002", lambda: PASTIS(fresh_root))


def test_error_number_of_dates(fresh_root: Path) -> None:
    path = fresh_root / "DATA_S1A" / "S1A_10001.npy"
    data = np.load(path)
    np.save(path, np.concatenate([data, data[:1]]))
    ds = PASTIS(fresh_root, modalities=("S1A",))
    expect_error("S1A_10001.npy", f"T = {len(data) + 1} observations", lambda: ds[1])
    parcels = PASTISParcels(fresh_root, modalities=("S1A",))
    expect_error("S1A_10001.npy", "dates for this patch", lambda: parcels[4])


@pytest.mark.parametrize("kind", ["unsorted", "duplicate"])
def test_error_dates_not_increasing(fresh_root: Path, kind: str) -> None:
    def edit(collection: dict[str, Any]) -> None:
        dates = collection["features"][2]["properties"]["dates-S2"]
        if kind == "unsorted":
            dates["0"], dates["1"] = dates["1"], dates["0"]
        else:
            dates["1"] = dates["0"]

    edit_metadata(fresh_root, edit)
    expect_error(
        "metadata.geojson",
        f"patch 10002: dates-S2 dates are not strictly increasing ({kind} dates",
        lambda: PASTIS(fresh_root),
    )


def test_error_invalid_calendar_date(fresh_root: Path) -> None:
    edit_metadata(
        fresh_root,
        lambda c: c["features"][0]["properties"]["dates-S1D"].update({"0": 20180231}),
    )
    expect_error("metadata.geojson", "not YYYYMMDD dates: [20180231]", lambda: PASTIS(fresh_root))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_error_non_finite_values(fresh_root: Path, bad: float) -> None:
    path = fresh_root / "DATA_S1D" / "S1D_10000.npy"
    data = np.load(path)
    data[0, 1, 0, 0] = bad  # a pixel of parcel 1
    np.save(path, data)
    ds = PASTIS(fresh_root, modalities=("S2", "S1D"))
    expect_error("S1D_10000.npy", "NaN/inf values", lambda: ds[0])
    parcels = PASTISParcels(fresh_root, modalities=("S1D",), n_pixels=None)
    expect_error("S1D_10000.npy", "NaN/inf values", lambda: parcels[0])


@pytest.mark.parametrize("dtype", [object, bool])
def test_error_wrong_dtype(fresh_root: Path, dtype: type) -> None:
    path = fresh_root / "DATA_S2" / "S2_10001.npy"
    data = np.load(path)
    np.save(path, data.astype(dtype), allow_pickle=True)
    ds = PASTIS(fresh_root)
    expect_error("S2_10001.npy", f"wrong dtype {np.dtype(dtype)}", lambda: ds[1])


def test_error_wrong_rank_series(fresh_root: Path) -> None:
    path = fresh_root / "DATA_S2" / "S2_10002.npy"
    np.save(path, np.load(path)[0])
    ds = PASTIS(fresh_root)
    expect_error("S2_10002.npy", "wrong rank: expected 4-D", lambda: ds[2])


def test_error_wrong_rank_annotation(fresh_root: Path) -> None:
    path = fresh_root / "ANNOTATIONS" / "TARGET_10001.npy"
    np.save(path, np.load(path).reshape(-1))
    ds = PASTIS(fresh_root)
    expect_error("TARGET_10001.npy", "wrong rank: annotation must be 2-D", lambda: ds[1])
    inst = fresh_root / "INSTANCE_ANNOTATIONS" / "INSTANCES_10000.npy"
    np.save(inst, np.load(inst)[None, None])
    ds = PASTIS(fresh_root, target="instance")
    expect_error("INSTANCES_10000.npy", "wrong rank", lambda: ds[0])


def test_error_spatial_mismatch_between_modalities(fresh_root: Path) -> None:
    path = fresh_root / "DATA_S1A" / "S1A_10004.npy"
    np.save(path, np.load(path)[:, :, :8, :8])
    ds = PASTIS(fresh_root, modalities=("S2", "S1A"))
    expect_error("S1A_10004.npy", "spatial size mismatch: 8x8", lambda: ds[4])


def test_error_spatial_mismatch_with_annotations(fresh_root: Path) -> None:
    path = fresh_root / "INSTANCE_ANNOTATIONS" / "INSTANCES_10003.npy"
    np.save(path, np.load(path)[:12])
    ds = PASTIS(fresh_root, target="instance")
    expect_error("INSTANCES_10003.npy", "spatial size mismatch", lambda: ds[3])
    parcels = PASTISParcels(fresh_root)
    expect_error("INSTANCES_10003.npy", "spatial size mismatch", lambda: len(parcels))


def test_error_class_ids_outside_nomenclature(fresh_root: Path) -> None:
    path = fresh_root / "ANNOTATIONS" / "TARGET_10002.npy"
    target = np.load(path)
    target[0, 0, 0] = 25
    np.save(path, target)
    ds = PASTIS(fresh_root)
    expect_error(
        "TARGET_10002.npy", "class ids outside the PASTIS nomenclature (0..19): [25]", lambda: ds[2]
    )


def test_error_corrupt_npy(fresh_root: Path) -> None:
    (fresh_root / "DATA_S2" / "S2_10000.npy").write_bytes(b"this is not a numpy file at all")
    expect_error("S2_10000.npy", "corrupt or truncated .npy file", lambda: PASTIS(fresh_root)[0])


def test_error_truncated_npy(fresh_root: Path) -> None:
    path = fresh_root / "DATA_S2" / "S2_10001.npy"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    ds = PASTIS(fresh_root)
    expect_error("S2_10001.npy", "corrupt or truncated .npy file", lambda: ds[1])
    parcels = PASTISParcels(fresh_root)
    expect_error("S2_10001.npy", "corrupt or truncated .npy file", lambda: parcels[4])


def test_error_norm_wrong_channels(fresh_root: Path) -> None:
    path = fresh_root / "NORM_S1A_patch.json"
    norm = json.loads(path.read_text())
    norm["Fold_3"]["mean"] = norm["Fold_3"]["mean"][:2]
    norm["Fold_3"]["std"] = norm["Fold_3"]["std"][:2]
    path.write_text(json.dumps(norm))
    expect_error(
        "NORM_S1A_patch.json",
        "Fold_3: wrong number of channels: 2 values",
        lambda: PASTIS(fresh_root, modalities=("S1A",)).statistics(),
    )


def test_error_norm_missing_fold(fresh_root: Path) -> None:
    path = fresh_root / "NORM_S2_patch.json"
    norm = json.loads(path.read_text())
    del norm["Fold_4"]
    path.write_text(json.dumps(norm))
    PASTIS(fresh_root, folds=[1, 2]).statistics()  # fold 4 not needed
    ds = PASTIS(fresh_root, folds=[1, 4])
    ds.statistics([0])  # nor for the samples of fold 1 only
    expect_error("NORM_S2_patch.json", "missing fold(s) [4]", ds.statistics)


def test_error_norm_not_json(fresh_root: Path) -> None:
    (fresh_root / "NORM_S2_patch.json").write_text("{not json")
    expect_error(
        "NORM_S2_patch.json", "not a readable JSON file", lambda: PASTIS(fresh_root).statistics()
    )


def test_error_unknown_fold(pastis_root: Path) -> None:
    expect_error(
        "metadata.geojson", "no patch in fold(s) [7]", lambda: PASTIS(pastis_root, folds=[7])
    )


# ---- real PASTIS files ------------------------------------------------------------------------


def test_real_pastis_files() -> None:
    if not REAL.is_dir():
        pytest.skip(f"real PASTIS metadata not available at {REAL}")
    meta = read_metadata(REAL / "metadata.geojson")
    assert len(meta) == 9
    assert meta.crs is not None and meta.crs.to_epsg() == 2154
    assert list(meta.index) == [10000, 10001, 10002, 10003, 10004, 10005, 10006, 10007, 10009]
    assert meta["Fold"].to_dict()[10000] == 1 and set(meta["Fold"]) == {1, 2, 3, 4, 5}
    for dates in meta["dates-S2"]:
        assert len(dates) == 43
    first = meta.at[10000, "dates-S2"]
    assert int(first[0]) == 20180924
    assert int(dates_to_days(first)[0]) == 23

    path = REAL / "NORM_S2_patch.json"
    stats = read_norm(path, n_channels=10)
    assert sorted(stats) == [1, 2, 3, 4, 5]
    assert all(m.shape == (10,) and s.shape == (10,) for m, s in stats.values())
    file = json.loads(path.read_text())
    means = np.array([file[f"Fold_{k}"]["mean"] for k in (1, 2, 3)], dtype=np.float64)
    stds = np.array([file[f"Fold_{k}"]["std"] for k in (1, 2, 3)], dtype=np.float64)
    mean, std = pool_norm(stats, [1, 2, 3])
    np.testing.assert_allclose(mean, means.mean(axis=0), rtol=1e-12)
    direct = np.sqrt((stds**2 + means**2).mean(axis=0) - means.mean(axis=0) ** 2)
    np.testing.assert_allclose(std, direct, rtol=1e-12)
    assert (std >= stds.mean(axis=0)).all()  # pooling never gives less than averaging stds

    for pid in meta.index:
        ids = load_annotation(REAL / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy")
        assert ids.shape == (128, 128) and ids.dtype == np.int32
        # the real metadata's parcel count and cover agree with the raw parcel ids
        n_parcels = len(np.unique(ids[ids > 0]))
        assert 0.95 * meta.at[pid, "N_Parcel"] <= n_parcels <= meta.at[pid, "N_Parcel"]
        assert abs(meta.at[pid, "Parcel_Cover"] - (ids > 0).mean()) < 0.01
    heat = load_annotation(REAL / "INSTANCE_ANNOTATIONS" / "HEATMAP_10000.npy")
    assert heat.dtype == np.float64 and heat.max() <= 1.0


@pytest.mark.parametrize("cls", [PASTIS, PASTISParcels])
def test_resample_on_load_equals_resample_after_loading(
    pastis_root: Path, cls: type[PASTIS] | type[PASTISParcels]
) -> None:
    from sitsfusion.data.transforms import resample

    mods = ("S2", "S1A", "S1D")
    kw: dict[str, Any] = {"modalities": mods}
    if cls is PASTISParcels:
        kw["sample_pixels"] = "fixed"
    plain = cls(pastis_root, **kw)
    fused = cls(pastis_root, resample={"S1A": "S2", "S1D": "S2"}, **kw)
    for i in range(min(3, len(plain))):
        expected = resample(resample(plain[i], "S1A", "S2"), "S1D", "S2")
        got = fused[i]
        for m in mods:
            assert torch.equal(got[m].dates, got["S2"].dates)
            torch.testing.assert_close(got[m].values, expected[m].values, rtol=1e-5, atol=1e-5)


def test_resample_on_load_needs_loaded_modalities(pastis_root: Path) -> None:
    with pytest.raises(ValueError, match="S1A"):
        PASTIS(pastis_root, modalities=("S2",), resample={"S1A": "S2"})


# ---- panoptic target --------------------------------------------------------------------------


def write_centerness(root: Path, pid: int) -> tuple[np.ndarray, np.ndarray]:
    """Replace a patch's HEATMAP / ZONES by the ground truth computed from its annotations."""
    from sitsfusion.data.centerness import centerness_targets

    semantic = raw(root, "ANNOTATIONS", f"TARGET_{pid}.npy")[0]
    instances = raw(root, "INSTANCE_ANNOTATIONS", f"INSTANCES_{pid}.npy") * (semantic != 0)
    heat, zones = centerness_targets(torch.from_numpy(instances.astype(np.int64)))
    np.save(root / "INSTANCE_ANNOTATIONS" / f"HEATMAP_{pid}.npy", heat.numpy().astype(np.float64))
    np.save(root / "INSTANCE_ANNOTATIONS" / f"ZONES_{pid}.npy", zones.numpy())
    return heat.numpy(), zones.numpy()


def test_panoptic_mode(fresh_root: Path) -> None:
    pid = FIRST_ID + 1
    target_path = fresh_root / "ANNOTATIONS" / f"TARGET_{pid}.npy"
    target = np.load(target_path)
    r0, r1, c0, _ = parcel_boxes(16)[1]
    target[0, r1 - 1, c0] = 0  # a background pixel inside parcel 1
    np.save(target_path, target)
    heat, zones = write_centerness(fresh_root, pid)
    ds = PASTIS(fresh_root, modalities=("S2",), target="panoptic")
    s = ds[1]
    semantic = target[0]
    expected = raw(fresh_root, "INSTANCE_ANNOTATIONS", f"INSTANCES_{pid}.npy") * (semantic != 0)
    assert s.instances is not None and s.instances.dtype == torch.long
    np.testing.assert_array_equal(s.instances.numpy(), expected)
    assert int(s.instances[r1 - 1, c0]) == 0 and int(s.instances[r0, c0]) == 1
    assert int(s.instances[parcel_boxes(16)[4][0], parcel_boxes(16)[4][2]]) == 4  # void kept
    assert s.heatmap is not None and s.heatmap.dtype == torch.float32
    np.testing.assert_array_equal(s.heatmap.numpy(), heat)
    assert s.zones is not None and s.zones.dtype == torch.long
    np.testing.assert_array_equal(s.zones.numpy(), zones)
    np.testing.assert_array_equal(s.semantic.numpy(), semantic)
    batch = collate([ds[0], ds[1], ds[2]])
    assert batch.heatmap is not None and batch.heatmap.shape == (3, 16, 16)
    assert batch.zones is not None and batch.instances is not None
    # the instance mode is unchanged (background pixels keep their instance id)
    inst_mode = PASTIS(fresh_root, modalities=("S2",), target="instance")[1]
    assert inst_mode.heatmap is None and int(inst_mode.instances[r1 - 1, c0]) == 1
    cached = PASTIS(fresh_root, modalities=("S2",), target="panoptic", cache=True)
    for _ in range(2):
        again = cached[1]
        assert torch.equal(again.heatmap, s.heatmap) and torch.equal(again.zones, s.zones)


def test_panoptic_mode_with_flips(fresh_root: Path) -> None:
    from functools import partial

    from sitsfusion.data.transforms import flip

    heat, zones = write_centerness(fresh_root, FIRST_ID)
    ds = PASTIS(
        fresh_root,
        target="panoptic",
        modalities=("S2",),
        transform=partial(flip, axis=1),
    )
    s = ds[0]
    np.testing.assert_array_equal(s.heatmap.numpy(), heat[:, ::-1])
    np.testing.assert_array_equal(s.zones.numpy(), zones[:, ::-1])


def test_error_panoptic_files(fresh_root: Path) -> None:
    ann = fresh_root / "INSTANCE_ANNOTATIONS"
    (ann / "HEATMAP_10002.npy").unlink()
    expect_error(
        "HEATMAP_10002.npy",
        "missing (patch 10002 is in metadata.geojson)",
        lambda: PASTIS(fresh_root, target="panoptic"),
    )
    PASTIS(fresh_root, target="instance")  # the other targets do not need it
    (ann / "ZONES_10003.npy").unlink()
    expect_error(
        "ZONES_10003.npy",
        "missing (patch 10003",
        lambda: PASTIS(fresh_root, folds=[4], target="panoptic"),
    )
    PASTIS(fresh_root, folds=[4])  # semantic target: not needed


@pytest.mark.parametrize(
    ("name", "array", "problem"),
    [
        ("HEATMAP", np.zeros((12, 16)), "spatial size mismatch: (12, 16)"),
        ("HEATMAP", np.zeros((1, 16, 16)), "wrong rank: expected 2-D"),
        ("HEATMAP", np.full((16, 16), np.nan), "holds NaN/inf values (256 NaN, 0 inf)"),
        ("HEATMAP", np.full((16, 16), 1.5), "centerness values must lie in [0, 1]"),
        ("HEATMAP", np.array(["a"] * 256).reshape(16, 16), "wrong dtype"),
        ("ZONES", np.zeros((16, 15), dtype=np.int64), "spatial size mismatch"),
        ("ZONES", np.full((16, 16), 0.5), "zone ids must be integers"),
        ("ZONES", np.full((16, 16), -1), "zone ids must be >= 0"),
    ],
)
def test_error_panoptic_arrays(
    fresh_root: Path, name: str, array: np.ndarray, problem: str
) -> None:
    np.save(fresh_root / "INSTANCE_ANNOTATIONS" / f"{name}_10001.npy", array)
    ds = PASTIS(fresh_root, target="panoptic")
    ds[0]  # other patches are fine
    expect_error(f"{name}_10001.npy", problem, lambda: ds[1])


def test_error_unknown_target(pastis_root: Path) -> None:
    with pytest.raises(ValueError, match="'panoptic'"):
        PASTIS(pastis_root, target="heatmap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PASTISParcels"):
        PASTIS(pastis_root, target="parcel")  # type: ignore[arg-type]


def test_real_heatmap_file() -> None:
    from sitsfusion.data.readers.pastis import load_heatmap

    path = REAL / "INSTANCE_ANNOTATIONS" / "HEATMAP_10000.npy"
    if not path.is_file():
        pytest.skip(f"real PASTIS heatmap not available at {path}")
    heat = load_heatmap(path, spatial=(128, 128))
    assert heat.dtype == np.float32 and heat.shape == (128, 128)
    assert heat.max() == 1.0 and heat.min() >= 0.0
    ids = load_annotation(REAL / "ANNOTATIONS" / "ParcelIDs_10000.npy")
    # one peak (value 1) per parcel, up to the few parcels whose centres coincide or that the
    # file drops as background
    n_parcels = len(np.unique(ids[ids > 0]))
    assert 0.9 * n_parcels <= int((heat == 1.0).sum()) <= n_parcels
    with pytest.raises(DatasetError, match="spatial size mismatch"):
        load_heatmap(path, spatial=(64, 64))


def test_patch_transform_from_the_footprint_corners(pastis_root: Path) -> None:
    """Samples carry the affine of their pixel grid: (col, row) = (0, 0) is the footprint's
    north-west corner, (W, H) its south-east corner (real footprints are rotated squares)."""
    from sitsfusion.data.readers.pastis.metadata import patch_corners

    s = PASTIS(pastis_root)[0]
    a, b, c, d, e, f = s.meta["transform"]
    west, south, east, north = s.meta["bounds"]
    h, w = s.semantic.shape
    assert (c, f) == (west, north) and (c + a * w + b * h, f + d * w + e * h) == (east, south)
    parcel = PASTISParcels(pastis_root)[0]
    assert parcel.meta["transform"] == PASTIS(pastis_root)[0].meta["transform"]
    if not REAL.is_dir():
        pytest.skip(f"real PASTIS metadata not available at {REAL}")
    geometry = read_metadata(REAL).geometry.iat[0]
    corners = patch_corners(geometry)
    assert corners is not None
    ring = np.asarray(geometry.geoms[0].exterior.coords)
    (x0, y0), (x1, y1), (x2, y2) = corners
    transform = np.array([[(x1 - x0) / 128, (x2 - x0) / 128], [(y1 - y0) / 128, (y2 - y0) / 128]])
    for (col, row), corner in zip([(0, 0), (128, 0), (128, 128), (0, 128)], ring, strict=False):
        np.testing.assert_allclose(transform @ [col, row] + [x0, y0], corner, atol=1e-6)
    assert abs(transform[0, 0] - 10.0) < 0.1 and abs(transform[1, 0]) > 0.1  # 10 m, rotated
