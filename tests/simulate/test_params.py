"""The simulator's tables as data (``sitsfusion/simulate/params/*.json``) and pinned outputs.

The pins are digests of arrays written by the session fixtures (synthetic data). They were
taken when the tables moved from code to JSON, with output byte-identical to the code tables
(checked file by file against commit b5f2ffb). A failing pin means the simulated data changed:
if that is intended (a recalibration), update the digests and say so in docs/simulator.md.
The Sentinel-1 pins changed with the radar calibration of issue 13 (docs/simulator.md,
"Calibration"); every Sentinel-2, annotation and metadata pin stayed.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sitsfusion.simulate import layout, phenology, radar, regions, sen4agrinet, spectra
from sitsfusion.simulate.params import load_params, season_day

PARAM_FILES = (
    "classes",
    "phenology",
    "radar",
    "spectra",
    "regions",
    "sen4agrinet",
    "multisenge",
    "scene",
)


def _digest(arr: np.ndarray) -> tuple[str, str, tuple[int, ...]]:
    arr = np.ascontiguousarray(arr)
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16], arr.dtype.str, arr.shape


# ---------------------------------------------------------------------------------- tables


def test_every_params_file_is_packaged_documented_and_loaded() -> None:
    folder = resources.files("sitsfusion.simulate") / "params"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    assert names == sorted(f"{n}.json" for n in PARAM_FILES)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for name in PARAM_FILES:
        raw = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        assert "_comment" in raw or "_source" in raw, name  # every table says what it is
        assert f"`{name}.json`" in readme, name
        loaded = load_params(name)
        assert not [k for k in json.dumps(loaded).split('"') if k.startswith("_")], name


def test_notes_are_dropped_at_every_depth() -> None:
    peas = load_params("phenology")["peas"]
    assert "_comment" not in peas and peas["kind"] == "annual"
    assert all("_why" not in v for v in load_params("sen4agrinet")["appearance"].values())


def test_tables_hold_the_values_of_the_former_code() -> None:
    wheat = phenology.PHENOLOGY[2]
    assert (wheat.kind, wheat.sos, wheat.r_up, wheat.harvest) == ("annual", 205, 11, 320)
    assert season_day("2019-03-25") == 205 and season_day("2018-09-01") == 0
    assert phenology.PHENOLOGY[1].cuts == (season_day("2019-05-20"), 42.0, 2, 4, 0.45)
    assert phenology.PHENOLOGY[5].flower == (season_day("2019-04-15"), 13.0, 0.55)
    assert phenology.PHENOLOGY[layout.URBAN].kind == "static"
    durum = radar.RADAR[11]  # the cereal template plus three bumps
    assert (durum.vol_vv, durum.vol_vh, durum.att_vv, durum.att_vh) == (-12.0, -17.0, 2.4, 1.2)
    assert durum.bumps[1] == (1, season_day("2019-05-25"), 22.0, 3.0)  # 2.0 before issue 13
    assert radar.RADAR[3].vol_vv == -9.25  # corn: -8.5 before the calibration of issue 13
    assert radar.RADAR[layout.WATER] == radar.Radar()
    assert layout.PEAS not in radar.RADAR  # peas exist in the Sentinel-2-only format
    assert spectra.ENDMEMBERS["green_leaf"][6] == 0.450 and spectra.CLOUD[-1] == 0.330
    assert spectra.BANDS_20M.tolist() == [3, 4, 5, 7, 8, 9]
    assert spectra.LEAF_NIR[layout.PEAS] == 1.04 and spectra.DRY_BRIGHTNESS[layout.FOREST] == 0.5
    assert list(regions.REGIONS) == ["west", "south", "east", "north"]  # hashed names use it
    assert regions.REGIONS["south"].freq[8] == 4.0 and regions.REGIONS["west"].theta == (33.5, 41.0)
    assert layout.CLASS_FREQUENCIES[1] == 0.40 and len(layout.CLASS_NAMES) == 20
    assert dict(layout.BACKGROUND_COVERS) == {20: 0.45, 21: 0.25, 22: 0.08, 23: 0.22}
    assert sen4agrinet.REGIONS["catalonia"].crops[150] == 0.22
    assert sen4agrinet._APPEARANCE[770] == layout.PEAS


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        phenology.PHENOLOGY[2] = phenology.PHENOLOGY[3]  # type: ignore[index]
    with pytest.raises(ValueError, match="read-only"):
        spectra.ENDMEMBERS["soil"][0] = 1.0


def test_hashed_regions_are_spread_over_the_named_ones() -> None:
    reg = regions.region_config("Morlaix")
    assert reg.tile in {r.tile for r in regions.REGIONS.values()}
    assert -21 <= reg.shift <= 21 and dict(reg.freq) == {}
    assert regions.region_config(" West ") is regions.REGIONS["west"]


# ------------------------------------------------------------------------------------ pins


def test_pinned_pastis_r_output(pastis_r: Path) -> None:
    pins = {
        "DATA_S2/S2_10000.npy": ("0f7306659934271b", "<i2", (49, 10, 32, 32)),
        "DATA_S1A/S1A_10000.npy": ("299241197cce6cb2", "<f4", (68, 3, 32, 32)),
        "DATA_S1D/S1D_10005.npy": ("a836d82e18b5f039", "<f4", (69, 3, 32, 32)),
        "ANNOTATIONS/TARGET_10000.npy": ("9456fc7df8060091", "|u1", (3, 32, 32)),
        "ANNOTATIONS/ParcelIDs_10003.npy": ("4d636fac4a2ccce6", "<i4", (32, 32)),
        "INSTANCE_ANNOTATIONS/HEATMAP_10000.npy": ("1e190ee250fda02f", "<f8", (32, 32)),
        "INSTANCE_ANNOTATIONS/ZONES_10002.npy": ("604baa0f5086e7a1", "<i8", (32, 32)),
    }
    for name, pin in pins.items():
        assert _digest(np.load(pastis_r / name)) == pin, name
    for name, pin in (
        ("metadata.geojson", "413ca2a5cb419ac8"),
        ("NORM_S2_patch.json", "0c8e6eb3593775cd"),
    ):
        assert hashlib.sha256((pastis_r / name).read_bytes()).hexdigest()[:16] == pin, name


def test_pinned_sen4agrinet_output(sen4agrinet: Path) -> None:
    h5py = pytest.importorskip("h5py")
    files = sorted(p.name for p in sen4agrinet.glob("*.nc"))
    assert files == [
        "2019_30TYN_patch_21_17.nc",
        "2019_31TCG_patch_8_14.nc",
        "2019_31TDF_patch_13_23.nc",
        "2019_31TDJ_patch_21_7.nc",
        "2020_31TCG_patch_27_29.nc",
        "2020_31TCG_patch_3_27.nc",
    ]
    pins = {
        "B04": ("e38696bff5427fbc", "<u2", (51, 24, 24)),
        "B01": ("a495579fd7312a54", "<u2", (51, 4, 4)),
        "B11": ("681126007800946a", "<u2", (51, 12, 12)),
        "labels": ("c2ddf22f95480f0e", "<u4", (24, 24)),
        "parcels": ("9b4f7c7fd7445405", "<u4", (24, 24)),
    }
    with h5py.File(sen4agrinet / files[0], "r") as f:
        for name, pin in pins.items():
            assert _digest(f[name][name][:]) == pin, name
        assert _digest(f["B02"]["time"][:]) == ("03623759a410ead3", "<i8", (51,))


def test_pinned_multisenge_output(multisenge: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    labels = sorted(p.name for p in (multisenge / "labels").glob("*.json"))
    assert labels[0] == "31UEQ_5140_1799.json" and len(labels) == 6
    meta = json.loads((multisenge / "labels" / labels[0]).read_text())
    assert meta.pop("projection").startswith("PROJCS") and meta["synthetic"] is True
    text = json.dumps(meta, sort_keys=True)  # file lists (in no order) and class codes
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "ba219167bd824698"
    pins = {
        "s2/31UEQ_20200602_S2_5140_1799.tif": ("c30272bc091d041d", "<u2", (10, 32, 32)),
        "s1/31UEQ_20200102_S1_5140_1799.tif": ("19c562bc74a79422", "<f4", (2, 32, 32)),
        "ground_reference/31UEQ_GR_5140_1799.tif": ("05913b5dae7ec6a3", "|u1", (1, 32, 32)),
    }
    for name, pin in pins.items():
        with rasterio.open(multisenge / name) as src:
            assert _digest(src.read()) == pin, name
