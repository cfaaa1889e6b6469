"""Bad files in every reader: non-regular files, garbled ``.npy``, wrong channel counts,
invalid or contradictory CRS / transforms, bad dates, netCDF files contradicting their name.

Each case changes one file of a copy of a valid tiny dataset (PASTIS, Sen4AgriNet and
MultiSenGE written by the simulator: SYNTHETIC data) and asserts one clean refusal: a
``DatasetError`` on one line, starting with the file, saying what is expected. Named pipes
are refused before they are opened (``stat``), so no case can block; :func:`no_hang` turns a
regression into a failure instead of a hang. Policies: docs/formats.md, "Bad values".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine
from readers_inputs import (
    PASTIS_FIRST_S2,
    PASTIS_S1A,
    PASTIS_S2,
    PASTIS_TARGET,
    PIXELSET_NPY,
    S4A_FILE,
    Case,
    copy_of,
    edit_json,
    edit_netcdf,
    edit_npy,
    edit_tif,
    first_tif,
    no_hang,
    refused,
    replace_by_fifo,
    replace_by_folder,
    valid,  # noqa: F401  (the session fixture)
)

S2, S1 = (("modalities", ("S2",)),), (("modalities", ("S1",)),)  # MultiSenGE: fewer files
FIFO = ("named pipe (FIFO)", "refused before opening")
FOLDER = ("is a folder; expected a file",)


def fifo(rel: str) -> Callable[[Path], Path]:
    return lambda root: replace_by_fifo(root / rel if rel else root)


def folder(rel: str) -> Callable[[Path], Path]:
    return lambda root: replace_by_folder(root / rel)


def new_fifo(rel: str) -> Callable[[Path], Path]:
    def edit(root: Path) -> Path:
        os.mkfifo(root / rel)
        return root / rel

    return edit


def tif_fifo(sub: str) -> Callable[[Path], Path]:
    return lambda root: replace_by_fifo(first_tif(root, sub))


def msg_json(change: Callable[[Any], None] | None = None) -> Callable[[Path], Path]:
    def edit(root: Path) -> Path:
        path = sorted((root / "labels").glob("*.json"))[0]
        return replace_by_fifo(path) if change is None else edit_json(path, change)

    return edit


# ---- garbled .npy --------------------------------------------------------------------------


def bytes_of(rel: str, change: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def edit(root: Path) -> Path:
        path = root / rel
        path.write_bytes(change(path.read_bytes()))
        return path

    return edit


def bigger_shape(data: bytes) -> bytes:
    """The header announces one more date than the file holds."""
    header_end = data.index(b"\n") + 1
    header = data[:header_end].decode("latin1")
    start = header.index("'shape': (") + len("'shape': (")
    t = int(header[start : header.index(",", start)])
    new = header.replace(f"'shape': ({t},", f"'shape': ({t + 1},", 1)
    return new.encode("latin1") + data[header_end:]


def pickled(root_rel: str) -> Callable[[Path], Path]:
    def edit(root: Path) -> Path:
        path = root / root_rel
        arr = np.empty(2, dtype=object)
        arr[:] = [{"runs": "code"}, "at load"]
        path.unlink()
        np.save(path, arr, allow_pickle=True)
        return path

    return edit


def channels(rel: str, keep: int) -> Callable[[Path], Path]:
    return lambda root: edit_npy(root, rel, lambda a: a[:, :keep])


# ---- metadata and dates --------------------------------------------------------------------


def pastis_meta(change: Callable[[dict], None]) -> Callable[[Path], Path]:
    return lambda root: edit_json(root / "metadata.geojson", change)


def s2_date(value: Any, position: int = 0) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        dates = doc["features"][1]["properties"]["dates-S2"]
        dates[sorted(dates, key=int)[position]] = value

    return change


def swap_dates(doc: dict) -> None:
    dates = doc["features"][1]["properties"]["dates-S2"]
    dates["0"], dates["1"] = dates["1"], dates["0"]


def crs_member(name: str | None) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        if name is None:
            del doc["crs"]
        else:
            doc["crs"] = {"type": "name", "properties": {"name": name}}

    return change


def zero_area(doc: dict) -> None:
    ring = doc["features"][1]["geometry"]["coordinates"][0][0]
    ring[:] = [ring[0]] * 5


def pixelset_dates(value: Any) -> Callable[[Path], Path]:
    def change(doc: dict) -> None:
        doc["1"] = value

    return lambda root: edit_json(root / "META" / "dates.json", change)


def long_row(text: str, row: int = 1) -> Callable[[Path], Path]:
    def edit(path: Path) -> Path:
        lines = path.read_text().splitlines()
        lines[row + 1] = text
        path.write_text("\n".join(lines) + "\n")
        return path

    return edit


# ---- netCDF --------------------------------------------------------------------------------


def s4a(change: Callable[[Any], None]) -> Callable[[Path], Path]:
    return lambda root: edit_netcdf(root / S4A_FILE, change)


def attr(key: str, value: str) -> Callable[[Any], None]:
    def change(f: Any) -> None:
        f.attrs[key] = value

    return change


def moved_to_tile(tile: str, country: str) -> Callable[[Path], Path]:
    """The file renamed to ``tile`` with every attribute agreeing, but ``country``."""

    def edit(root: Path) -> Path:
        name = f"2019_{tile}_patch_8_14"
        path = root / f"{name}.nc"
        (root / S4A_FILE).rename(path)
        zone = int(tile[:2])
        edit_netcdf(
            path,
            lambda f: f.attrs.update(
                patch_tile=tile,
                patch_full_name=name,
                patch_country_code=country,
                crs=f"EPSG:{32600 + zone}",
            ),
        )
        return path

    return edit


def constant_x(f: Any) -> None:
    f["B02/x"][...] = 5.0


def reversed_time(f: Any) -> None:
    for band in [k for k in f if "time" in f[k]]:
        f[f"{band}/time"][...] = f[f"{band}/time"][...][::-1]


def dangling_band(f: Any) -> None:
    """B03 rewritten without its dimension scales: its extents match no dimension."""
    data = f["B03/B03"][...]
    del f["B03/B03"]
    f["B03"].create_dataset("B03", data=data[:, :-1])


# ---- GeoTIFFs ------------------------------------------------------------------------------


def tif(sub: str, change: Callable[[np.ndarray, dict], tuple[np.ndarray, dict]]):
    return lambda root: edit_tif(first_tif(root, sub), change)


def bands(keep: int) -> Callable:
    def change(arr: np.ndarray, profile: dict) -> tuple[np.ndarray, dict]:
        if keep <= arr.shape[0]:
            return arr[:keep], profile
        return np.concatenate([arr, arr[: keep - arr.shape[0]]]), profile

    return change


def cropped(arr: np.ndarray, profile: dict) -> tuple[np.ndarray, dict]:
    return arr[:, :15, :15], {**profile, "width": 15, "height": 15}


def with_crs(epsg: int) -> Callable:
    from rasterio.crs import CRS

    return lambda arr, profile: (arr, {**profile, "crs": CRS.from_epsg(epsg)})


def shifted(arr: np.ndarray, profile: dict) -> tuple[np.ndarray, dict]:
    return arr, {**profile, "transform": profile["transform"] @ Affine.translation(1, 0)}


def no_geotransform(arr: np.ndarray, profile: dict) -> tuple[np.ndarray, dict]:
    profile = {k: v for k, v in profile.items() if k not in ("transform", "crs")}
    return arr, profile


CASES = [
    # named pipes, folders: refused before opening, every reader (io.require_regular_file)
    Case("pastis-s2-fifo", "pastis", fifo(PASTIS_S2), FIFO),
    Case("pastis-first-s2-fifo", "pastis", fifo(PASTIS_FIRST_S2), FIFO),
    Case("pastis-target-fifo", "pastis", fifo(PASTIS_TARGET), FIFO),
    Case("pastis-metadata-fifo", "pastis", fifo("metadata.geojson"), FIFO),
    Case("pastis-norm-fifo", "pastis", fifo("NORM_S2_patch.json"), FIFO),
    Case("pastis-s2-folder", "pastis", folder(PASTIS_S2), FOLDER),
    Case("pastis-metadata-folder", "pastis", folder("metadata.geojson"), FOLDER),
    Case("pixelset-npy-fifo", "pixelset", fifo(PIXELSET_NPY), FIFO),
    Case("pixelset-dates-fifo", "pixelset", fifo("META/dates.json"), FIFO),
    Case("pixelset-labels-fifo", "pixelset", fifo("META/labels.json"), FIFO),
    Case("pixelset-npy-folder", "pixelset", folder(PIXELSET_NPY), FOLDER),
    Case("pixelset-meanstd-fifo", "pixelset", new_fifo("META/S2-meanstd.pkl"), FIFO),
    Case("long-fifo", "long", fifo(""), FIFO),
    Case("wide-fifo", "wide", fifo(""), FIFO),
    Case("oad-fifo", "oad", fifo(""), FIFO),
    Case("jrc-fifo", "jrc", fifo("tsdir/1_s2_ts.csv"), FIFO),
    Case("jrc-events-fifo", "jrc", fifo("gtdir/FOIinfo.csv"), FIFO),
    Case("s4a-fifo", "sen4agrinet", fifo(S4A_FILE), FIFO),
    Case("s4a-folder", "sen4agrinet", folder(S4A_FILE), FOLDER),
    Case("msg-s2-fifo", "multisenge", tif_fifo("s2"), FIFO, S2),
    Case("msg-gr-fifo", "multisenge", tif_fifo("ground_reference"), FIFO, S2),
    Case("msg-json-fifo", "multisenge", msg_json(), FIFO, S2),
    # garbled .npy
    Case("npy-bad-magic", "pastis", bytes_of(PASTIS_S2, lambda b: b"XXXXXX" + b[6:]), ("magic",)),
    Case("npy-truncated-header", "pastis", bytes_of(PASTIS_S2, lambda b: b[:30]), ("header",)),
    Case("npy-truncated-data", "pastis", bytes_of(PASTIS_S2, lambda b: b[:-64]), ("truncated",)),
    Case(
        "npy-longer-than-header",
        "pastis",
        bytes_of(PASTIS_S2, lambda b: b + bytes(64)),
        ("longer than its header says",),
    ),
    Case("npy-shape-vs-size", "pastis", bytes_of(PASTIS_S1A, bigger_shape), ("truncated",)),
    Case("npy-target-truncated", "pastis", bytes_of(PASTIS_TARGET, lambda b: b[:-5]), ("trunc",)),
    Case("npy-pickled-objects", "pastis", pickled(PASTIS_S2), ("wrong dtype object",)),
    Case(
        "pixelset-npy-longer",
        "pixelset",
        bytes_of(PIXELSET_NPY, lambda b: b + bytes(8)),
        ("longer than its header says",),
    ),
    Case("pixelset-npy-bad-magic", "pixelset", bytes_of(PIXELSET_NPY, lambda b: b[1:]), ("magic",)),
    # channel counts that differ from the dataset's
    Case("pastis-s2-9-bands", "pastis", channels(PASTIS_S2, 9), ("has 9 channels, expected 10",)),
    Case(
        "pastis-first-s2-9-bands",
        "pastis",
        channels(PASTIS_FIRST_S2, 9),
        ("has 9 channels; PASTIS S2 has 10 (B2,",),
    ),
    Case("pastis-s1a-2-bands", "pastis", channels(PASTIS_S1A, 2), ("2 channels, expected 3",)),
    Case("pixelset-9-bands", "pixelset", channels(PIXELSET_NPY, 9), ("has 9 channels",)),
    Case("long-row-missing-band", "long", long_row("1,crop,2018-01-11,0.3"), ("NaN band",)),
    Case("wide-row-missing-band", "wide", long_row("forest,s1,5.0,6.0,7.0", 1), ("row 1",)),
    Case("msg-s2-9-bands", "multisenge", tif("s2", bands(9)), ("9 bands, a S2 file has 10",), S2),
    Case("msg-s1-3-bands", "multisenge", tif("s1", bands(3)), ("3 bands, a S1 file has 2",), S1),
    Case("msg-gr-2-bands", "multisenge", tif("ground_reference", bands(2)), ("2 bands",), S2),
    Case("msg-s2-wrong-size", "multisenge", tif("s2", cropped), ("size 15x15 differs",), S2),
    # CRS and transforms
    Case(
        "pastis-unparsable-crs",
        "pastis",
        pastis_meta(crs_member("urn:ogc:def:crs:EPSG::999999")),
        ("not longitude / latitude", "unparsable 'crs'"),
    ),
    Case("pastis-no-crs", "pastis", pastis_meta(crs_member(None)), ("EPSG:4326",)),
    Case("pastis-zero-area", "pastis", pastis_meta(zero_area), ("patch 10001", "zero area")),
    Case("s4a-unparsable-crs", "sen4agrinet", s4a(attr("crs", "EPSG:99999999")), ("not a CRS",)),
    Case(
        "s4a-crs-other-zone",
        "sen4agrinet",
        s4a(attr("crs", "EPSG:32632")),
        ("contradicts the tile 31TCG", "EPSG:32631"),
    ),
    Case("s4a-zero-pixel", "sen4agrinet", s4a(constant_x), ("pixel size of 0",)),
    Case("msg-s2-other-crs", "multisenge", tif("s2", with_crs(2154)), ("EPSG:2154 vs",), S2),
    Case("msg-s2-shifted-grid", "multisenge", tif("s2", shifted), ("one pixel grid",), S2),
    Case(
        "msg-gr-no-geotransform",
        "multisenge",
        tif("ground_reference", no_geotransform),
        ("has no geotransform",),
        S2,
    ),
    Case(
        "msg-unparsable-projection",
        "multisenge",
        msg_json(lambda doc: doc.update(projection="not a projection")),
        ("'projection' 'not a projection' is not a CRS",),
        S2,
    ),
    # dates
    Case("pastis-float-date", "pastis", pastis_meta(s2_date(20190101.5)), ("20190101.5",)),
    Case("pastis-nan-date", "pastis", pastis_meta(s2_date(float("nan"))), ("nan is not an",)),
    Case("pastis-text-date", "pastis", pastis_meta(s2_date("soon")), ("cannot parse dates-S2",)),
    Case("pastis-unsorted-dates", "pastis", pastis_meta(swap_dates), ("unsorted",)),
    Case("pastis-duplicate-dates", "pastis", pastis_meta(s2_date(None, 1)), ("dates-S2",)),
    Case("pixelset-float-date", "pixelset", pixelset_dates(20170115.5), ("20170115.5",)),
    Case("pixelset-duplicate-date", "pixelset", pixelset_dates(20170105), ("duplicate dates",)),
    Case("long-float-date", "long", long_row("1,crop,20180111.5,0.3,0.4"), ("'date'",)),
    Case("s4a-dates-not-increasing", "sen4agrinet", s4a(reversed_time), ("not strictly",)),
    # netCDF files contradicting their name or dimensions
    Case("s4a-year", "sen4agrinet", s4a(attr("patch_year", "2020")), ("patch_year='2020'",)),
    Case("s4a-tile", "sen4agrinet", s4a(attr("patch_tile", "31TDF")), ("patch_tile='31TDF'",)),
    Case("s4a-full-name", "sen4agrinet", s4a(attr("patch_full_name", "x")), ("full_name='x'",)),
    Case(
        "s4a-country-vs-tile",
        "sen4agrinet",
        moved_to_tile("33UVP", "ES"),
        ("patch_country_code='ES' contradicts the tile 33UVP",),
    ),
    Case("s4a-band-extent", "sen4agrinet", s4a(dangling_band), ("malformed netCDF",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_file_refused(case: Case, valid: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    root = copy_of(valid, case.name, tmp_path)
    path = case.edit(root)
    refused(case.name, root, path, *case.words, **dict(case.options))


# ---- through the command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "edit", "words"),
    [
        ("pastis", fifo("metadata.geojson"), FIFO),
        ("long", fifo(""), FIFO),
        ("sen4agrinet", s4a(attr("patch_year", "2020")), ("contradicts the file name",)),
        ("pixelset", folder(PIXELSET_NPY), FOLDER),
    ],
    ids=["pastis-metadata-fifo", "long-table-fifo", "s4a-year", "pixelset-npy-folder"],
)
def test_info_refuses_in_one_line(
    name: str,
    edit: Callable[[Path], Path],
    words: tuple[str, ...],
    valid: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    sitsfusion_main: Callable[..., Any],
) -> None:
    root = copy_of(valid, name, tmp_path)
    path = edit(root)
    fmt = {"pastis": "pastis", "long": "long_table"}.get(name)
    args = ["info", str(root), *(["--format", fmt] if fmt else [])]
    with no_hang():
        ran = sitsfusion_main(*args)
    assert ran.code == 2, ran
    output = ran.stdout + ran.stderr  # the CLI prints its one-line error on stdout
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert str(path) in lines[0] and all(w in lines[0] for w in words), lines[0]


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    """The check is a ``stat``: a FIFO with no writer would block ``open`` forever."""
    from sitsfusion.errors import DatasetError
    from sitsfusion.io import load_npy, read_json, read_npy_header

    path = tmp_path / "x.npy"
    os.mkfifo(path)
    for read in (load_npy, read_npy_header, read_json, lambda p: load_npy(p, mmap=True)):
        with no_hang(), pytest.raises(DatasetError, match=r"x\.npy: is a named pipe"):
            read(path)


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("pastis", fifo("metadata.geojson")),
        ("multisenge", msg_json()),
        ("sen4agrinet", fifo(S4A_FILE)),
    ],
    ids=["pastis-metadata", "multisenge-json", "sen4agrinet-nc"],
)
def test_synthetic_flag_of_a_fifo_is_false_without_blocking(
    name: str,
    edit: Callable[[Path], Path],
    valid: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    """``is_synthetic`` reads a file's head: a named pipe there must not block it."""
    from sitsfusion.data.readers import reader_class

    root = copy_of(valid, name, tmp_path)
    edit(root)
    with no_hang():
        assert reader_class(name).is_synthetic(root) is False


def test_a_pastis_folder_without_series_is_one_line(
    pastis_r: Path, tmp_path: Path, sitsfusion_main: Any
) -> None:
    """Metadata only (as pastis_metadata_real in ../shared/data): no modality to read."""
    import shutil

    root = tmp_path / "meta_only"
    shutil.copytree(pastis_r, root, ignore=shutil.ignore_patterns("DATA_*"))
    ran = sitsfusion_main("info", str(root))
    assert ran.code == 2 and "Traceback" not in ran.stdout + ran.stderr
    assert ran.stdout.strip().splitlines() == [
        f"error: {root}: no modality with both a DATA_<modality> folder and 'dates-<modality>' "
        "in metadata.geojson (metadata only?); nothing to read"
    ]
