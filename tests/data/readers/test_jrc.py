"""Tests for :class:`sitsfusion.data.readers.jrc.JRCParcelStatistics` and :func:`event_targets`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from paths import SHARED_DATA
from sitsfusion.data import collate
from sitsfusion.data.readers.jrc import JRCParcelStatistics, event_targets
from sitsfusion.errors import DatasetError

REAL = SHARED_DATA / "jrc_salms_s1s2_parcels"


def day(iso: str, ref: str = "2020-01-04") -> int:
    return int((np.datetime64(iso, "D") - np.datetime64(ref, "D")).astype(np.int64))


# --------------------------------------------------------------------------------------------
# Real data (skipped when the shared folder is absent)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> JRCParcelStatistics:
    if not REAL.is_dir():
        pytest.skip(f"real JRC SALMS data not available at {REAL}")
    return JRCParcelStatistics(REAL)


def test_real_counts_and_dates(real: JRCParcelStatistics) -> None:
    assert len(real) == 10
    assert real.ids == [str(i) for i in range(1, 11)]
    assert real.reference_date == "2020-01-04"
    assert real.channel_names["S2"] == ["B04_mean", "B04_std", "B08_mean", "B08_std"]
    assert real.signals["S1"] == ["s1_bs_VH_rAD", "s1_bs_rAD"]
    assert real.signals["S1_COH"] == ["s1_coh6_VH", "s1_coh6_VV", "s1_coh6"]
    assert real.labels.tolist() == [-1] * 10 and real.class_names == []
    clear = []
    for i in range(len(real)):
        s = real[i]
        assert s.label == -1
        shapes = {m: tuple(ts.values.shape) for m, ts in s.series.items()}
        assert shapes == {"S2": (71, 4, 1), "S1": (47, 4, 1), "S1_COH": (48, 6, 1)}
        for ts in s.series.values():
            assert ts.values.dtype == torch.float32 and ts.dates.dtype == torch.int64
            assert bool((ts.dates[1:] > ts.dates[:-1]).all())
            assert torch.isfinite(ts.values).all()
        assert s["S2"].dates[0] == 0 and s["S2"].dates[-1] == day("2020-12-29")
        assert s["S1"].dates[0] == day("2020-01-16") and s["S1"].dates[-1] == day("2020-12-12")
        # paired sensors on different schedules: S1 backscatter and coherence differ too
        s1, coh = set(s["S1"].dates.tolist()), set(s["S1_COH"].dates.tolist())
        assert len(s1 & coh) == 38 and len(s1 - coh) == 9
        assert s["S1"].mask is None and s["S2"].mask is not None
        clear.append(int(s["S2"].mask.sum()))
        orbits = s.meta["orbits"]
        assert orbits["S1"].count("A") == 35 and orbits["S1"].count("D") == 12
        assert orbits["S1_COH"].count("A") == 37 and orbits["S1_COH"].count("D") == 11
    assert clear == [22, 24, 24, 26, 23, 25, 21, 24, 24, 22]  # cloud-free S2 dates
    batch = collate([real[i] for i in range(len(real))])
    assert batch["S2"].values.shape == (10, 71, 4, 1)
    assert batch.label.tolist() == [-1] * 10


def test_real_values_equal_csv_cells(real: JRCParcelStatistics) -> None:
    s = real[real.ids.index("5")]
    t = pd.read_csv(REAL / "tsdir" / "5_s2_ts.csv")
    row = t[(t["date"] == "2020-07-12") & (t["band"] == "B08")].iloc[0]
    at = int(torch.nonzero(s["S2"].dates == day("2020-07-12"))[0, 0])
    c = real.channel_names["S2"]
    assert s["S2"].values[at, c.index("B08_mean"), 0].item() == pytest.approx(row["MEAN"])
    assert s["S2"].values[at, c.index("B08_std"), 0].item() == pytest.approx(row["STD.DEV"])

    b = pd.read_csv(REAL / "tsdir" / "5_s1_bs_ts.csv")
    row = b[(b["date"] == "20200709T165047") & (b["band"] == "s1_bs_rAD")].iloc[0]
    at = int(torch.nonzero(s["S1"].dates == day("2020-07-09"))[0, 0])
    c = real.channel_names["S1"]
    assert s["S1"].values[at, c.index("s1_bs_rAD_mean"), 0].item() == pytest.approx(row["MEAN"])
    assert s.meta["orbits"]["S1"][at] == "A"


def test_real_statistics_and_indices() -> None:
    if not REAL.is_dir():
        pytest.skip(f"real JRC SALMS data not available at {REAL}")
    ds = JRCParcelStatistics(
        REAL,
        modalities={"S1_COH": ["s1_coh6_VV"], "S1_IDX": None},
        statistics=("median", "p75", "count"),
        parcels=[8],
        events=False,
    )
    assert ds.ids == ["8"] and ds.reference_date == "2020-01-02"  # RVI starts earlier
    s = ds[0]
    assert s["S1_IDX"].values.shape == (180, 3, 1)
    assert s.meta["orbits"]["S1_IDX"].count("A") == 121
    assert s.meta["events"] == {"days": [], "dates": [], "types": []}
    c = pd.read_csv(REAL / "tsdir" / "8_s1_coh6_ts.csv")
    row = c[(c["date"] == "20200603T165044") & (c["band"] == "s1_coh6_VV")].iloc[0]
    at = int(torch.nonzero(s["S1_COH"].dates == day("2020-06-03", "2020-01-02"))[0, 0])
    expected = [row["MEDIAN"], row["P75"], row["count"]]
    assert s["S1_COH"].values[at, :, 0].tolist() == pytest.approx(expected)


def test_real_nan_indices(real: JRCParcelStatistics) -> None:
    with pytest.raises(DatasetError, match=r"1_s2_idx_ts\.csv.*NaN.*2020-03-04.*GARI"):
        JRCParcelStatistics(REAL, modalities={"S2": ["NDVI", "GARI"]}, events=False)
    ds = JRCParcelStatistics(
        REAL, modalities={"S2": ["B08", "NDVI", "GARI"]}, on_nan="drop", events=False
    )
    t = [ds[i]["S2"].num_dates for i in range(len(ds))]
    assert t == [65, 71, 71, 71, 71, 71, 71, 71, 65, 71]  # parcels 1, 9: six March dates gone
    assert day("2020-03-04") not in ds[0]["S2"].dates.tolist()


def test_real_events(real: JRCParcelStatistics) -> None:
    ev = {pid: real[i].meta["events"] for i, pid in enumerate(real.ids)}
    assert sum(len(e["days"]) for e in ev.values()) == 17
    assert ev["1"] == {
        "days": [day("2020-07-10"), day("2020-09-09")],
        "dates": ["2020-07-10", "2020-09-09"],
        "types": ["1", "1"],
    }
    assert ev["2"]["dates"] == ["2020-06-13"]
    assert ev["10"]["dates"] == ["2020-05-15", "2020-07-20"]
    assert real[0].meta["area"] == pytest.approx(1.3)
    s = real[0]
    mown = event_targets(s["S2"].dates, ev["1"]["days"])
    first_after = [day("2020-07-12"), day("2020-09-10")]  # next S2 dates after the events
    assert s["S2"].dates[mown].tolist() == first_after
    since = event_targets(s["S2"].dates, ev["1"]["days"], "days_since")
    assert torch.isnan(since[s["S2"].dates < day("2020-07-10")]).all()
    assert since[s["S2"].dates == day("2020-07-12")].item() == 2
    labelled = JRCParcelStatistics(REAL, modalities=["S1"], label="num_events")
    assert labelled.labels.tolist() == [2, 1, 2, 2, 2, 1, 2, 1, 2, 2]
    assert labelled.class_names == ["0", "1", "2"]


def test_event_targets_by_hand() -> None:
    dates = torch.tensor([0, 10, 20, 30])
    assert event_targets(dates, [10, 25, 99]).tolist() == [False, True, False, True]
    assert event_targets(dates, torch.tensor([-5])).tolist() == [True, False, False, False]
    assert event_targets(dates, []).tolist() == [False] * 4
    since = event_targets(dates, [25, 10], "days_since")
    assert since.dtype == torch.float32
    assert torch.isnan(since[0]) and since[1:].tolist() == [0.0, 10.0, 5.0]
    assert torch.isnan(event_targets(dates, [], "days_since")).all()
    with pytest.raises(ValueError, match="target"):
        event_targets(dates, [1], "nope")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Synthetic layout in tmp_path
# --------------------------------------------------------------------------------------------


def s2_rows(parcel: int) -> list[dict]:
    """Two bands on three dates, deliberately out of order; 2020-01-11 is cloudy."""
    rows = []
    for d, cloud in (("2020-01-11", 4), ("2020-01-01", 0), ("2020-01-06", 0)):
        for k, band in enumerate(("B04", "B08")):
            base = parcel * 100 + int(d[-2:]) + k / 10
            rows.append(
                {
                    "cwithin": 10,
                    "date": d,
                    "band": band,
                    "count": 10,
                    "MEAN": base,
                    "STD.DEV": base / 100,
                    "P50": base + 0.5,
                    "hist.4": 10 - cloud,
                    "hist.9": cloud,
                }
            )
    return rows


def s1_rows(parcel: int) -> list[dict]:
    rows = []
    for d in ("20200103T165850", "20200109T051721"):
        for k, band in enumerate(("s1_bs_rAD", "s1_bs_VH_rAD")):
            v = parcel + int(d[6:8]) / 100 + k
            rows.append({"week": 1, "date": d, "band": band, "MEAN": v, "STD.DEV": v / 10})
    return rows


def write_tree(
    root: Path, edit: Callable[[dict[str, pd.DataFrame]], None] | None = None, events: str = ""
) -> Path:
    tables = {}
    for p in (1, 2):
        tables[f"{p}_s2_ts.csv"] = pd.DataFrame(s2_rows(p))
        tables[f"{p}_s1_bs_ts.csv"] = pd.DataFrame(s1_rows(p))
    if edit is not None:
        edit(tables)
    (root / "tsdir").mkdir(parents=True)
    (root / "gtdir").mkdir()
    for name, df in tables.items():
        df.to_csv(root / "tsdir" / name, index=False)
    text = events or '"","ID","area","Event_date","Event_type"\n"0",1,1.5,"07/01/2020","1"\n'
    (root / "gtdir" / "FOIinfo.csv").write_text(text)
    return root


def test_synthetic_tree(tmp_path: Path) -> None:
    ds = JRCParcelStatistics(write_tree(tmp_path), modalities=("S2", "S1"))
    assert ds.ids == ["1", "2"] and ds.reference_date == "2020-01-01"
    s = ds[1]
    assert s.meta["id"] == "2" and s.meta["events"]["days"] == []
    ts = s["S2"]
    assert ts.dates.tolist() == [0, 5, 10]
    assert ts.mask.tolist() == [True, True, False]
    expected = [[201, 2.01, 201.1, 2.011], [206, 2.06, 206.1, 2.061], [211, 2.11, 211.1, 2.111]]
    assert ts.values[..., 0].flatten().tolist() == pytest.approx(np.ravel(expected))
    assert s["S1"].dates.tolist() == [2, 8]
    assert s["S1"].values[:, 0, 0].tolist() == pytest.approx([2.03, 2.09])
    assert s.meta["orbits"]["S1"] == ["A", "D"]
    e = ds[0].meta
    assert e["events"] == {"days": [6], "dates": ["2020-01-07"], "types": ["1"]}
    assert e["area"] == 1.5
    assert event_targets(ds[0]["S2"].dates, e["events"]["days"]).tolist() == [False, False, True]

    p50 = JRCParcelStatistics(tmp_path, modalities=["S2"], statistics=["p50"], cloud_classes=None)
    assert p50[0]["S2"].values[0, :, 0].tolist() == pytest.approx([101.5, 101.6])
    assert p50[0]["S2"].mask is None
    half = JRCParcelStatistics(tmp_path, modalities=["S2"], max_cloud_fraction=0.5)
    assert half[0]["S2"].mask.all()


def drop_column(name: str, column: str) -> Callable[[dict[str, pd.DataFrame]], None]:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        t[name] = t[name].drop(columns=column)

    return edit


def set_cell(name: str, row: int, column: str, value: object) -> Callable:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        t[name] = t[name].astype({column: object})
        t[name].loc[row, column] = value

    return edit


def set_column(name: str, column: str, value: object) -> Callable:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        t[name][column] = value

    return edit


def duplicate_row(name: str, row: int) -> Callable:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        t[name] = pd.concat([t[name], t[name].iloc[[row]]], ignore_index=True)

    return edit


def drop_row(name: str, row: int) -> Callable:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        t[name] = t[name].drop(index=row)

    return edit


def empty_file(name: str) -> Callable:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        t[name] = t[name].iloc[:0]

    return edit


def remove_file(name: str) -> Callable:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        del t[name]

    return edit


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (drop_column("2_s2_ts.csv", "STD.DEV"), r"2_s2_ts\.csv: missing column.*STD\.DEV"),
        (drop_column("1_s1_bs_ts.csv", "band"), r"1_s1_bs_ts\.csv: missing column.*band"),
        (set_cell("2_s2_ts.csv", 3, "MEAN", np.nan), r"2_s2_ts\.csv: 1 row.*NaN.*parcel '2'"),
        (set_cell("1_s2_ts.csv", 0, "MEAN", "high"), r"1_s2_ts\.csv: non-numeric value 'high'"),
        (duplicate_row("1_s1_bs_ts.csv", 1), r"1_s1_bs_ts\.csv: 1 duplicate \(parcel, date"),
        (set_cell("2_s2_ts.csv", 0, "date", "11/01/2020"), r"2_s2_ts\.csv: 1 unparsable.*11/01"),
        (set_cell("1_s1_bs_ts.csv", 2, "date", "2020-13-01"), r"1_s1_bs_ts\.csv: 1 unparsable"),
        (drop_row("2_s2_ts.csv", 5), r"2_s2_ts\.csv: band 'B08' has no row on 2020-01-06"),
        (empty_file("2_s1_bs_ts.csv"), r"2_s1_bs_ts\.csv: no rows \(empty parcel\)"),
        (remove_file("2_s1_bs_ts.csv"), r"2_s1_bs_ts\.csv: missing, but parcel '2'"),
    ],
)
def test_bad_files(tmp_path: Path, edit: Callable, match: str) -> None:
    root = write_tree(tmp_path, edit)
    with pytest.raises(DatasetError, match=match):
        JRCParcelStatistics(root, modalities=("S2", "S1"))


def test_drop_nan_and_holes(tmp_path: Path) -> None:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        set_cell("2_s2_ts.csv", 3, "MEAN", np.nan)(t)  # 2020-01-01 B08
        drop_row("2_s2_ts.csv", 5)(t)  # 2020-01-06 B08

    ds = JRCParcelStatistics(write_tree(tmp_path, edit), modalities=["S2"], on_nan="drop")
    assert ds[0]["S2"].dates.tolist() == [0, 5, 10]
    assert ds[1]["S2"].dates.tolist() == [10]
    root = write_tree(tmp_path / "nan", set_column("1_s2_ts.csv", "MEAN", np.nan))
    with pytest.raises(DatasetError, match=r"1_s2_ts\.csv: parcel '1' has no S2 date left"):
        JRCParcelStatistics(root, modalities=["S2"], on_nan="drop")


def test_requested_parcel_signal_and_modality(tmp_path: Path) -> None:
    root = write_tree(tmp_path)
    with pytest.raises(DatasetError, match=r"3_s2_ts\.csv: missing: parcel '3' was requested"):
        JRCParcelStatistics(root, modalities=["S2"], parcels=[1, 3])
    with pytest.raises(DatasetError, match=r"1_s2_ts\.csv: signal\(s\) \['B05'\] absent"):
        JRCParcelStatistics(root, modalities={"S2": ["B04", "B05"]})
    with pytest.raises(DatasetError, match=r"tsdir: no <parcel>_s2_idx_ts\.csv file"):
        JRCParcelStatistics(root, modalities={"S2": ["B04", "NDVI"]})
    with pytest.raises(DatasetError, match=r"1_s2_ts\.csv: missing column.*P99"):
        JRCParcelStatistics(root, modalities=["S2"], statistics=["mean", "p99"])
    with pytest.raises(ValueError, match="unknown modality"):
        JRCParcelStatistics(root, modalities=["S3"])
    ds = JRCParcelStatistics(root, modalities={"S2": ["B08"]}, parcels=["2"])
    assert ds.ids == ["2"] and ds.channel_names == {"S2": ["B08_mean", "B08_std"]}
    assert ds[-1]["S2"].values[:, 0, 0].tolist() == pytest.approx([201.1, 206.1, 211.1])


def test_same_day_orbits(tmp_path: Path) -> None:
    def edit(t: dict[str, pd.DataFrame]) -> None:
        extra = t["1_s1_bs_ts.csv"].iloc[:2].assign(date="20200103T051721", MEAN=[5.0, 7.0])
        t["1_s1_bs_ts.csv"] = pd.concat([t["1_s1_bs_ts.csv"], extra], ignore_index=True)

    root = write_tree(tmp_path, edit)
    pattern = r"1_s1_bs_ts\.csv: 2 \(parcel, day, band\) with several.*'20200103T165850', '2020"
    with pytest.raises(DatasetError, match=pattern):
        JRCParcelStatistics(root, modalities=["S1"])
    ds = JRCParcelStatistics(root, modalities=["S1"], same_day="mean")
    s1 = ds[0]["S1"]
    assert s1.dates.tolist() == [0, 6]
    assert s1.values[0, [0, 2], 0].tolist() == pytest.approx([(1.03 + 5) / 2, (2.03 + 7) / 2])
    assert ds[0].meta["orbits"]["S1"] == ["A+D", "D"]
    assert ds[1].meta["orbits"]["S1"] == ["A", "D"]


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ('"ID","area","Event_date"\n1,1.0,"35/01/2020"\n', r"FOIinfo\.csv: 1 unparsable.*35/01"),
        ('"ID","area","when"\n1,1.0,"05/01/2020"\n', r"FOIinfo\.csv: missing column.*Event_date"),
        ('"ID","Event_date"\n1,"05/01/2020"\n1,"05/01/2020"\n', r"FOIinfo\.csv: duplicate event"),
    ],
)
def test_bad_events(tmp_path: Path, events: str, match: str) -> None:
    root = write_tree(tmp_path, events=events)
    with pytest.raises(DatasetError, match=match):
        JRCParcelStatistics(root, modalities=["S2"])


def test_events_optional_and_iso(tmp_path: Path) -> None:
    root = write_tree(tmp_path, events='"id","EVENT_DATE"\n2,2020-01-09\n2,"03/01/2020"\n')
    ds = JRCParcelStatistics(root, modalities=["S2"], reference_date="2019-12-31")
    assert ds[1].meta["events"]["dates"] == ["2020-01-03", "2020-01-09"]
    assert ds[1].meta["events"]["days"] == [3, 9] and "area" not in ds[1].meta
    assert ds[0]["S2"].dates.tolist() == [1, 6, 11]
    (root / "gtdir" / "FOIinfo.csv").unlink()
    with pytest.raises(DatasetError, match=r"FOIinfo\.csv: missing"):
        JRCParcelStatistics(root, modalities=["S2"])
    assert len(JRCParcelStatistics(root, modalities=["S2"], events=False)) == 2
    with pytest.raises(DatasetError, match="missing folder"):
        JRCParcelStatistics(tmp_path / "nowhere")
