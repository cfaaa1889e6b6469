"""Per-format defaults and checks of the simulator (sitsfusion.simulate.formats), checked
against the repository's configs and models; writers never overwrite (synthetic data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paths import CONFIGS
from sitsfusion.config import load_config
from sitsfusion.data.readers.multisenge import PAPER_SPLIT
from sitsfusion.simulate import simulate_sen4agrinet
from sitsfusion.simulate.formats import FORMATS, uncovered_splits
from sitsfusion.simulate.multisenge import SPLIT_TILES
from sitsfusion.simulate.regions import REGIONS
from sitsfusion.simulate.sen4agrinet import REGIONS as S4A_REGIONS


def _configs(folder: str) -> list[dict]:
    """The resolved configs (bases and overlays composed) of every file in ``folder``."""
    paths = sorted((CONFIGS / folder).glob("*.yaml"))
    assert paths, folder
    return [load_config(p).to_dict() for p in paths]


def test_defaults_are_the_real_datasets_and_valid() -> None:
    pastis, s4a, msg = FORMATS["pastis-r"], FORMATS["sen4agrinet"], FORMATS["multisenge"]
    assert (pastis.size, pastis.region, pastis.year) == (128, "west", 2019)
    assert (s4a.size, s4a.region, s4a.year) == (366, "catalonia", 2019)
    assert (msg.size, msg.region, msg.year, msg.tiles) == (256, None, None, SPLIT_TILES)
    for spec in FORMATS.values():
        assert spec.check_size(None) == spec.size  # every default passes its own check
        assert spec.check_region(None) == spec.region
    assert pastis.regions == tuple(REGIONS) and s4a.regions == tuple(S4A_REGIONS)


def test_sen4agrinet_size_fits_the_configs_sub_patches() -> None:
    spec = FORMATS["sen4agrinet"]
    subpatches = {c["data"]["reader"]["subpatch"] for c in _configs("sykas2022/pad")}
    assert subpatches == {spec.subpatch} == {61}
    assert spec.size_rule()[:2] == (366, 366)  # 6 (20 m / 60 m grids) x 61
    assert spec.check_size(732) == 732
    for bad in (61, 120, 122, 360):
        with pytest.raises(ValueError, match=r"multiple of 366: .*61 x 61 sub-patches"):
            spec.check_size(bad)
    assert spec.check_size(24, subpatch=12) == 24  # a config cutting 12-pixel sub-patches
    with pytest.raises(ValueError, match=r"multiple of 12: .*12 x 12 .*got the default 366"):
        spec.check_size(None, subpatch=12)
    with pytest.raises(ValueError, match="must be >= 1"):
        spec.check_subpatch(0)


def test_pastis_size_fits_the_u_tae_of_the_configs() -> None:
    from sitsfusion.models.spatiotemporal.utae import UTAEEncoder

    spec = FORMATS["pastis-r"]
    for folder in ("garnot2021/semantic", "garnot2021/panoptic"):
        for cfg in _configs(folder):
            encoder = cfg["model"]["encoder"]
            assert encoder["name"] == "utae" and set(encoder) == {"name"}  # U-TAE defaults
    assert UTAEEncoder(in_channels=10).divisor == spec.size_multiple == 8
    assert spec.check_size(32) == 32
    with pytest.raises(ValueError, match=r"multiple of 8: the U-TAE"):
        spec.check_size(100)


def test_multisenge_size_and_tiles() -> None:
    spec = FORMATS["multisenge"]
    assert {c["data"]["format"] for c in _configs("wenger2022")} == {"multisenge"}
    assert spec.check_size(16) == 16 and spec.check_size(17) == 17
    with pytest.raises(ValueError, match=r">= 16: the VGG-16 U-Net"):
        spec.check_size(15)
    assert spec.check_tiles(None) == SPLIT_TILES
    assert spec.check_tiles("t31ufq, 32ULV") == ("31UFQ", "32ULV")
    for bad in ("", "31UFQ,XX", "31-UFQ"):
        with pytest.raises(ValueError, match="tile names"):
            spec.check_tiles(bad)


def test_default_tiles_cover_the_papers_split() -> None:
    assert SPLIT_TILES[:2] == tuple(t for t in SPLIT_TILES if t in PAPER_SPLIT["train"])
    assert SPLIT_TILES[2] in PAPER_SPLIT["val"] and SPLIT_TILES[3] in PAPER_SPLIT["test"]
    assert uncovered_splits(SPLIT_TILES, 4) == []
    assert uncovered_splits(SPLIT_TILES, 3) == ["test"]
    assert uncovered_splits(SPLIT_TILES, 2) == ["val", "test"]
    assert uncovered_splits(("31UFQ", "32ULU"), 20) == ["val", "test"]  # the former default


def test_options_a_format_does_not_have_are_refused() -> None:
    msg, pastis, s4a = FORMATS["multisenge"], FORMATS["pastis-r"], FORMATS["sen4agrinet"]
    for check, value in (
        (msg.check_region, "west"),
        (msg.check_year, 2020),
        (msg.check_cloud_cover, 0.1),
        (pastis.check_tiles, "31UFQ"),
        (pastis.check_subpatch, 12),
    ):
        with pytest.raises(ValueError, match="do not pass one"):
            check(value)
    with pytest.raises(ValueError, match=r"unknown Sen4AgriNet region 'west'; valid: catalonia"):
        s4a.check_region("west")
    assert s4a.check_region(" France ") == "france"
    assert pastis.check_region("Morlaix") == "Morlaix"  # any other name: hashed
    with pytest.raises(ValueError, match=r"2016\.\.2100"):
        s4a.check_year(1999)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pastis.check_cloud_cover(1.5)


def test_sen4agrinet_writer_never_overwrites(tmp_path: Path) -> None:
    pytest.importorskip("h5netcdf")
    first = simulate_sen4agrinet(tmp_path, patches=2, size=12, seed=1, region="france")
    before = {p: p.read_bytes() for p in first}
    with pytest.raises(FileExistsError, match=r"already holds .* and 1 more"):
        simulate_sen4agrinet(tmp_path, patches=2, size=12, seed=1, region="france")
    assert {p: p.read_bytes() for p in first} == before
    other = simulate_sen4agrinet(tmp_path, patches=1, size=12, seed=1, region="france", year=2020)
    assert len(list(tmp_path.glob("*.nc"))) == 3 and other[0] not in first
