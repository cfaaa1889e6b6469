"""Parcels from a vector file → class ids → semantic / instance maps (sitsfusion.geo.labels).

The parcels are small synthetic boxes in UTM 32630 built in the tests (no real data).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

gpd = pytest.importorskip("geopandas")
rasterio = pytest.importorskip("rasterio")

from rasterio.transform import from_origin  # noqa: E402
from shapely.geometry import LineString, Polygon, box  # noqa: E402

from sitsfusion.data.readers.ranges import DataWarning  # noqa: E402
from sitsfusion.errors import DatasetError  # noqa: E402
from sitsfusion.geo.labels import (  # noqa: E402
    label_parcels,
    map_classes,
    rasterize_parcels,
    read_class_table,
    read_parcels,
    void_borders,
)

CRS = "EPSG:32630"
X0, Y0 = 500_000.0, 4_800_000.0  # grid origin (upper left), UTM 30N
RES = 10.0
SHAPE = (30, 40)  # 300 m × 400 m
TRANSFORM = from_origin(X0, Y0, RES, RES)


def _box(col: float, row: float, width: float, height: float) -> Polygon:
    """A box in pixel units of the test grid (col, row of its upper-left corner)."""
    return box(X0 + col * RES, Y0 - (row + height) * RES, X0 + (col + width) * RES, Y0 - row * RES)


def _parcels(**columns: object) -> gpd.GeoDataFrame:
    geoms = [
        _box(2, 2, 10, 8),  # 80 px
        _box(12, 2, 6.5, 8),  # touches the first; 52 m² × 10 = 5200 m² → 52 px
        _box(20.3, 15.2, 7.4, 5.6),  # off-pixel edges: 41.44 px of area
        _box(35, 25, 10, 10),  # cut by the grid edge (5 × 5 px inside)
    ]
    data = {
        "parcel_id": [11, 12, 13, 14],
        "crop_code": ["BTH", "MIS", "PPH", "BTH"],
        "area_ha": [0.8, 0.52, 0.41, 1.0],
    }
    data.update(columns)  # type: ignore[arg-type]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=CRS)


TABLE = {"BTH": 2, "MIS": 3, "PPH": 1}  # soft winter wheat, corn, meadow (PASTIS ids)


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("parcels.gpkg", lambda df, p: df.to_file(p, driver="GPKG")),
        ("parcels.parquet", lambda df, p: df.to_parquet(p)),
        ("parcels.shp", lambda df, p: df.to_file(p, driver="ESRI Shapefile")),
        ("parcels.geojson", lambda df, p: df.to_file(p, driver="GeoJSON")),
    ],
)
def test_read_parcels_round_trips_every_format(tmp_path, name, write):
    source = _parcels()
    path = tmp_path / name
    write(source, path)
    parcels = read_parcels(path)
    assert list(parcels.columns) == ["parcel_id", "class_value", "geometry"]
    assert parcels["parcel_id"].tolist() == [11, 12, 13, 14]
    assert parcels["parcel_id"].dtype == np.int32
    assert parcels["class_value"].tolist() == ["BTH", "MIS", "PPH", "BTH"]
    assert parcels.crs.to_epsg() == 32630
    assert np.allclose(parcels.area, source.area)


def test_ids_generated_when_absent_and_taken_from_id_column(tmp_path):
    frame = _parcels().drop(columns="parcel_id").assign(fid_lpis=[7, 5, 3, 1])
    path = tmp_path / "p.gpkg"
    frame.to_file(path)
    assert read_parcels(path)["parcel_id"].tolist() == [1, 2, 3, 4]
    assert read_parcels(path, id_column="fid_lpis")["parcel_id"].tolist() == [7, 5, 3, 1]


def test_class_column_given_and_detection_ambiguity(tmp_path):
    path = tmp_path / "p.gpkg"
    _parcels(crop_name=["wheat", "maize", "meadow", "wheat"]).to_file(path)
    with pytest.raises(
        DatasetError, match=r"several candidate class columns \['crop_code', 'crop_name'\]"
    ):
        read_parcels(path)
    assert read_parcels(path, class_column="crop_name")["class_value"].tolist()[1] == "maize"


def test_reprojection_from_4326_lands_on_the_same_pixels(tmp_path):
    path = tmp_path / "wgs84.geojson"
    _parcels().to_crs(4326).to_file(path, driver="GeoJSON")
    with pytest.warns(DataWarning, match=r"reprojected from EPSG:4326 to EPSG:32630") as record:
        parcels = read_parcels(path, crs=32630)
    assert sum("reprojected" in str(w.message) for w in record) == 1  # said once
    native = label_parcels(_parcels().rename(columns={"crop_code": "class_value"}), table=TABLE)
    moved = label_parcels(parcels, table=TABLE)
    a = rasterize_parcels(native, CRS, TRANSFORM, SHAPE)
    b = rasterize_parcels(moved, CRS, TRANSFORM, SHAPE)
    np.testing.assert_array_equal(a.instance, b.instance)
    np.testing.assert_array_equal(a.semantic, b.semantic)


def test_invalid_geometry_repaired_and_empty_dropped_with_counts(tmp_path):
    bowtie = Polygon([(X0, Y0), (X0 + 100, Y0 - 100), (X0 + 100, Y0), (X0, Y0 - 100)])
    frame = gpd.GeoDataFrame(
        {"crop": ["BTH", "MIS", "PPH"]},
        geometry=[bowtie, _box(20, 20, 5, 5), Polygon()],
        crs=CRS,
    )
    path = tmp_path / "p.gpkg"
    frame.to_file(path)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        parcels = read_parcels(path)
    messages = [str(w.message) for w in record if issubclass(w.category, DataWarning)]
    assert any("1 invalid geometry repaired" in m for m in messages)
    assert any("1 parcel(s) with an empty or zero-area geometry dropped" in m for m in messages)
    assert len(parcels) == 2
    assert parcels.geometry.is_valid.all()
    assert parcels.area.iloc[0] == pytest.approx(5000.0)  # the two triangles of the bow tie


def test_map_classes_names_ids_faoicc_and_csv(tmp_path):
    assert map_classes(["Corn", " soft  winter WHEAT", "Meadow"]).tolist() == [3, 2, 1]
    assert map_classes([3, 2, 19]).tolist() == [3, 2, 19]
    assert map_classes(["110", "120", "191", "435"]).tolist() == [2, 3, 17, 5]  # FAO-ICC
    csv_path = tmp_path / "classes.csv"
    csv_path.write_text("value,class\nBTH,Soft winter wheat\nMIS,3\nPPH,meadow\n")
    assert read_class_table(csv_path, "pastis") == TABLE
    values = ["BTH", "MIS", "PPH", "BTH"]
    assert map_classes(values, "pastis", table=csv_path).tolist() == [2, 3, 1, 2]
    assert map_classes(["Wheat", "Maize"], "finistere").tolist() == [1, 2]
    assert map_classes([110, 120], table={110: 2, " 120 ": 3}).tolist() == [2, 3]


def test_unknown_class_values_listed_with_counts_or_voided_or_dropped():
    values = ["BTH", "XYZ", "XYZ", "ABC", "MIS"]
    with pytest.raises(
        ValueError, match=r"2 class value\(s\) not in the class table: 'XYZ' \(2\), 'ABC' \(1\)"
    ):
        map_classes(values, table=TABLE)
    with pytest.warns(DataWarning, match=r"3 parcel\(s\) .* labelled void \(19\)"):
        assert map_classes(values, table=TABLE, unknown="void").tolist() == [2, 19, 19, 19, 3]
    with pytest.warns(DataWarning, match=r"3 parcel\(s\) .* dropped"):
        kept = map_classes(values, table=TABLE, unknown="drop")
    assert kept.index.tolist() == [0, 4] and kept.tolist() == [2, 3]
    with pytest.raises(ValueError, match=r"not in the FAO-ICC codes covered by pastis: 999 \(1\)"):
        map_classes([110, 999])
    with pytest.raises(ValueError, match="has no void class"):
        map_classes(["Nope"], "finistere", unknown="void")


def test_bad_csv_table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("code,name\nBTH,2\n")
    with pytest.raises(DatasetError, match=r"t.csv: expected a header row value,class"):
        read_class_table(path, "pastis")
    path.write_text("value,class\nBTH,Durum\n")
    with pytest.raises(DatasetError, match=r"line 2: class 'Durum' is neither an id nor a name"):
        read_class_table(path, "pastis")


def test_rasterised_areas_instances_borders_and_edge_parcels():
    parcels = label_parcels(_parcels().rename(columns={"crop_code": "class_value"}), table=TABLE)
    maps = rasterize_parcels(parcels, CRS, TRANSFORM, SHAPE, borders=False)
    assert maps.semantic.dtype == np.uint8 and maps.instance.dtype == np.int32
    assert maps.semantic.shape == maps.instance.shape == SHAPE
    assert maps.parcel_ids.tolist() == [11, 12, 13, 14]  # ids preserved
    counts = {i: int((maps.instance == i).sum()) for i in maps.parcel_ids}
    inside = parcels.clip(box(X0, Y0 - 300, X0 + 400, Y0))
    for pid, area in zip(inside["parcel_id"], inside.area, strict=True):
        assert abs(counts[pid] - area / RES**2) <= 1 + 2 * np.sqrt(area) / RES  # ±1 px along edges
    assert counts[11] == 80 and counts[14] == 25  # the edge parcel is kept, cut
    assert (maps.semantic[maps.instance == 11] == 2).all()
    assert (maps.semantic[maps.instance == 12] == 3).all()
    assert (maps.semantic[maps.instance == 0] == 0).all()  # background
    with_borders = rasterize_parcels(parcels, CRS, TRANSFORM, SHAPE)
    np.testing.assert_array_equal(with_borders.instance, maps.instance)  # borders keep their id
    first = with_borders.semantic[2:10, 2:12]
    assert (first[0] == 19).all() and (first[:, 0] == 19).all() and (first[1:-1, 1:-1] == 2).all()
    # between parcels 11 and 12 only one side is void: 11 keeps column 11 minus its outer rows
    assert (with_borders.semantic[3:9, 11] == 2).all() and (
        with_borders.semantic[3:9, 12] == 19
    ).all()
    # the grid edge is not a border: the cut parcel's last row / column stay labelled
    assert (with_borders.semantic[-1, 36:] == 2).all() and (
        with_borders.semantic[26:, -1] == 2
    ).all()


def test_void_borders_of_a_single_parcel():
    instance = np.zeros((5, 5), dtype=np.int32)
    instance[1:4, 1:4] = 7
    border = void_borders(instance)
    assert border.sum() == 8 and not border[2, 2]


def test_small_parcels_dropped_with_a_count_and_outside_ones_counted():
    frame = _parcels(crop_code=["BTH"] * 4)
    extra = gpd.GeoDataFrame(
        {"parcel_id": [21, 22, 23], "crop_code": ["MIS"] * 3, "area_ha": [0.0] * 3},
        # 1 px; outside the grid; a sliver over the edge holding no pixel centre
        geometry=[_box(30.2, 5.2, 1.2, 1.2), _box(100, 100, 5, 5), _box(39.8, 0, 10, 10)],
        crs=CRS,
    )
    parcels = label_parcels(
        gpd.pd.concat([frame, extra]).rename(columns={"crop_code": "class_value"}), table=TABLE
    )
    with pytest.warns(DataWarning, match=r"1 parcel\(s\) covering fewer than 4 pixels dropped"):
        maps = rasterize_parcels(parcels, CRS, TRANSFORM, SHAPE)
    assert maps.n_small == 1 and maps.n_outside == 2
    assert 21 not in maps.parcel_ids and (maps.semantic[5:7, 30:32] == 0).all()
    with pytest.warns(DataWarning, match="fewer than 100 pixels"):
        big_only = rasterize_parcels(parcels, CRS, TRANSFORM, SHAPE, min_pixels=100)
    assert big_only.parcel_ids.tolist() == [14]  # cut by the edge, judged by its whole area


def test_bad_inputs_give_one_line_errors(tmp_path):
    frame = _parcels()
    with pytest.raises(DatasetError, match=r"no such file"):
        read_parcels(tmp_path / "missing.gpkg")
    path = tmp_path / "p.gpkg"
    frame.to_file(path)
    with pytest.raises(
        DatasetError,
        match=r"no class column 'culture'; columns: \['parcel_id', 'crop_code', 'area_ha'\]",
    ):
        read_parcels(path, class_column="culture")
    empty = tmp_path / "empty.gpkg"
    frame.iloc[:0].to_file(empty)
    with pytest.raises(DatasetError, match=r"empty.gpkg: holds no features"):
        read_parcels(empty)
    no_crs_pq = tmp_path / "nocrs.parquet"
    frame.set_crs(None, allow_override=True).to_parquet(no_crs_pq)
    with pytest.raises(DatasetError, match=r"nocrs.parquet: has no CRS; set it"):
        read_parcels(no_crs_pq)
    lines = gpd.GeoDataFrame(
        {"crop": ["BTH", "MIS"]}, geometry=[LineString([(0, 0), (1, 1)]), box(0, 0, 1, 1)], crs=CRS
    )
    lines.to_file(tmp_path / "lines.gpkg")
    with pytest.raises(DatasetError, match=r"1 feature\(s\) are not polygons \(LineString: 1\)"):
        read_parcels(tmp_path / "lines.gpkg")
    dup = tmp_path / "dup.gpkg"
    frame.assign(parcel_id=[1, 1, 2, 3]).to_file(dup)
    with pytest.raises(DatasetError, match=r"repeated ids 1 \(2\)"):
        read_parcels(dup)
    garbage = tmp_path / "bad.gpkg"
    garbage.write_text("not a geopackage")
    with pytest.raises(DatasetError, match=r"bad.gpkg: cannot read as a vector file"):
        read_parcels(garbage)
    far = frame.rename(columns={"crop_code": "class_value"})
    far = label_parcels(far.set_geometry(far.translate(xoff=10_000)), table=TABLE)
    with pytest.raises(
        ValueError, match=r"no parcel inside the grid \(bounds 500000.00, 4799700.00"
    ):
        rasterize_parcels(far, CRS, TRANSFORM, SHAPE)
    with pytest.raises(ValueError, match=r"lack column\(s\) \['class_id'\]"):
        rasterize_parcels(frame, CRS, TRANSFORM, SHAPE)
    for err in (DatasetError, ValueError):
        assert issubclass(err, ValueError)
