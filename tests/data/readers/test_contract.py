"""Every reader follows one contract, and the registry finds the format of any dataset folder.

The folders are tiny: simulated (synthetic) PASTIS-R, MultiSenGE and Sen4AgriNet, an OAD table
aggregated from the simulated PASTIS-R, made-up pixel sets and tables, the real JRC parcels.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from pastis_fixture import write_pastis
from pixelset_fixture import write_per_parcel, write_two_sensor

from paths import SHARED_DATA
from sitsfusion.data.readers import (
    PatchReader,
    Reader,
    detect_format,
    is_synthetic,
    reader_class,
    reader_formats,
)
from sitsfusion.data.readers.base import format_tasks
from sitsfusion.errors import DatasetError

JRC = SHARED_DATA / "jrc_salms_s1s2_parcels"


@dataclass
class Case:
    """A dataset on disk and what its reader must say about it."""

    root: Path
    synthetic: bool = False
    georeferenced: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def cases(pastis_r: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    from sitsfusion.data.oad import aggregate_dataset
    from sitsfusion.data.readers.pastis import PASTIS

    base = tmp_path_factory.mktemp("contract")
    out = {
        "pastis": Case(pastis_r, synthetic=True, georeferenced=True),
        "pastis (made-up)": Case(write_pastis(base / "pastis"), georeferenced=True),
        "pixelset": Case(write_per_parcel(base / "ps").root),
        "pixelset (two sensors)": Case(write_two_sensor(base / "ps2")["s1_data"].root),
    }
    oad = base / "oad.parquet"
    aggregate_dataset(
        PASTIS(pastis_r, modalities=("S2", "S1A"), target="instance"), oad, progress=False
    )
    out["oad"] = Case(oad, synthetic=True)
    long = base / "long.csv"
    rows = ["sample_id,label,date,B1,B2"] + [
        f"{i},{'ab'[i % 2]},2020-0{m}-01,{i + m},{i - m}" for i in range(6) for m in (1, 2, 3)
    ]
    long.write_text("\n".join(rows) + "\n")
    out["long_table"] = Case(long)
    wide = base / "wide.csv"
    wide.write_text("\n".join(f"{i % 3},{i},{2 * i},{3 * i}" for i in range(9)) + "\n")
    out["wide_table"] = Case(wide)
    if JRC.is_dir():
        out["jrc"] = Case(JRC, options={"on_nan": "drop"})
    try:
        from sitsfusion.simulate import simulate_multisenge

        msg = simulate_multisenge(base / "msg", patches=2, size=16, seed=1)
        out["multisenge"] = Case(msg, synthetic=True, georeferenced=True)
    except ImportError:  # rasterio not installed
        pass
    try:
        from sitsfusion.simulate import simulate_sen4agrinet

        simulate_sen4agrinet(base / "s4a", patches=1, size=12, seed=1)
        out["sen4agrinet"] = Case(base / "s4a", synthetic=True, georeferenced=True)
    except ImportError:  # h5netcdf not installed
        pass
    return out


CASES = [
    "pastis",
    "pastis (made-up)",
    "pixelset",
    "pixelset (two sensors)",
    "oad",
    "long_table",
    "wide_table",
    "jrc",
    "multisenge",
    "sen4agrinet",
]


@pytest.mark.parametrize("name", CASES)
def test_every_reader_follows_the_contract(cases: dict[str, Case], name: str) -> None:
    if name not in cases:
        pytest.skip(f"{name}: data or optional dependency not available")
    case = cases[name]
    fmt = detect_format(case.root)
    assert fmt == name.split(" ")[0]
    cls = reader_class(fmt)
    assert cls.looks_like(case.root) and cls.format == fmt and cls.layout
    assert set(cls.tasks) <= {"parcel", "semantic", "panoptic"}
    assert cls.is_synthetic(case.root) is case.synthetic
    assert is_synthetic(case.root) is case.synthetic

    reader = cls.open(case.root, **case.options)
    assert isinstance(reader, Reader) and isinstance(reader.root, Path)
    n = len(reader)
    assert n > 0 and isinstance(reader.modalities, tuple) and reader.modalities
    assert set(reader.channels) == set(reader.modalities)
    assert all(isinstance(c, int) and c > 0 for c in reader.channels.values())
    assert all(isinstance(c, str) for c in reader.class_names)
    assert reader.num_classes == len(reader.class_names)
    assert reader.synthetic is case.synthetic
    for name_ in ("labels", "groups", "clusters"):
        value = getattr(reader, name_)
        assert value is None or len(value) == n, name_
    counts = reader.label_counts()
    assert counts.dtype == np.int64 and counts.shape == (reader.num_classes,)
    if reader.labels is not None:
        assert int(counts.sum()) == int((np.asarray(reader.labels) >= 0).sum())
        assert reader.label_counts([0]).sum() <= 1
    stats = reader.statistics()
    if stats is not None:
        for m, (mean, std) in stats.items():
            assert mean.shape == std.shape == (reader.channels[m],) and bool((std > 0).all())

    sample = reader[0]
    assert set(sample.series) == set(reader.modalities)
    dates = reader.observation_dates(0)
    for m in reader.modalities:
        assert sample[m].num_channels == reader.channels[m]
        assert len(dates[m]) == sample[m].num_dates
    if case.georeferenced:
        assert isinstance(sample.meta["crs"], str)
        assert len(sample.meta["transform"]) == 6
    else:
        assert "transform" not in sample.meta
    if isinstance(reader, PatchReader):
        assert reader.labels is None and sample.semantic is not None
        first = reader.patch(reader.patch_ids[0])
        assert first.semantic is not None
        assert set(np.unique(first.semantic.numpy())) <= set(reader.legend.ids)
        with pytest.raises(DatasetError, match="99999"):
            reader.patch("99999")


def test_readers_serve_their_tasks() -> None:
    assert format_tasks("pastis") == ("parcel", "semantic", "panoptic")
    assert reader_class("pastis", "parcel").__name__ == "PASTISParcels"
    assert reader_class("pastis", "panoptic").__name__ == "PASTIS"
    assert format_tasks("sen4agrinet") == ("semantic",)
    from sitsfusion.config import ConfigError

    with pytest.raises(ConfigError, match="does not serve the 'parcel' task"):
        reader_class("multisenge", "parcel")
    with pytest.raises(ConfigError, match="unknown"):
        reader_class("nope")
    assert {"pastis", "pixelset", "oad", "long_table", "wide_table"} <= set(reader_formats())


def test_unknown_layout_is_one_line_naming_the_layouts(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing to read")
    with pytest.raises(DatasetError) as info:
        detect_format(tmp_path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(tmp_path))
    for word in ("no known dataset layout", "PASTIS", "MultiSenGE", "Sen4AgriNet", "pixel sets"):
        assert word in message
    with pytest.raises(DatasetError, match="does not exist"):
        detect_format(tmp_path / "nowhere")
    assert is_synthetic(tmp_path) is False and is_synthetic(tmp_path / "nowhere") is False


def test_observation_dates_are_calendar_dates(pastis_r: Path) -> None:
    from sitsfusion.data.readers.pastis import PASTISParcels

    parcels = PASTISParcels(pastis_r)
    s = parcels[0]
    dates = parcels.observation_dates(0)["S2"]
    assert dates.dtype == np.dtype("datetime64[D]")
    expected = np.datetime64("2018-09-01") + s["S2"].dates.numpy().astype("timedelta64[D]")
    np.testing.assert_array_equal(dates, expected)
    assert isinstance(parcels.clusters, np.ndarray) and parcels.clusters[0] == s.meta["patch_id"]
    torch.testing.assert_close(torch.as_tensor(parcels.labels[:1]), torch.tensor([s.label]))


def test_concatenated_readers(tmp_path: Path) -> None:
    from sitsfusion.data.readers.concat import ConcatReader, concat_readers
    from sitsfusion.data.readers.tables import LongTableDataset

    def write(name: str, labels: str) -> Path:
        rows = ["sample_id,label,date,B1"] + [
            f"{i},{label},2020-01-0{d},{i}" for i, label in enumerate(labels) for d in (1, 2)
        ]
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n")
        return path

    a = LongTableDataset(write("a.csv", "aab"), classes=["a", "b"])
    b = LongTableDataset(write("b.csv", "bb"), classes=["a", "b"])
    assert concat_readers([a]) is a
    both = ConcatReader([a, b])
    assert len(both) == 5 and both.labels is not None and both.labels.tolist() == [0, 0, 1, 1, 1]
    assert both.label_counts().tolist() == [2, 3] and both.label_counts([0, 4]).tolist() == [1, 1]
    assert both[3].meta["id"] == 0 and str(both.observation_dates(4)["S2"][0]) == "2020-01-01"
    assert both.statistics() is None and both.clusters is None
    with pytest.raises(DatasetError, match="the class lists differ"):
        ConcatReader([a, LongTableDataset(write("c.csv", "bc"))])


def test_the_contract_is_enforced_on_new_readers() -> None:
    """A reader without samples cannot be built; a registered format must recognise its own
    layout."""
    from sitsfusion.data.readers.base import Reader, register_reader

    class NoSamples(Reader):
        format = "no_samples"
        layout = "nothing"

    with pytest.raises(TypeError, match="abstract"):
        NoSamples()

    class Blind(Reader):
        format = "blind"
        layout = "a folder it cannot recognise"

        def __len__(self) -> int:
            return 0

        def __getitem__(self, index: int):  # type: ignore[override]
            raise IndexError(index)

    with pytest.raises(TypeError, match="needs its own looks_like"):
        register_reader(Blind)
