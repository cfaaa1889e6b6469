"""The STAC side of the simulated own-area scene (**synthetic** data): items and the catalog.

One item per acquisition, as providers publish them (the issue 11 contract): Sentinel-2 L2A
items ``S2_<YYYYMMDD>`` in a collection ``sentinel-2-l2a`` (one COG asset per band and ``SCL``,
with the eo, raster, proj and sat extensions) and Sentinel-1 RTC items
``S1_<YYYYMMDD>_<ASC|DESC>`` in ``sentinel-1-rtc`` (assets ``vv`` and ``vh``, sar, sat, proj,
raster). A static self-contained catalog (relative hrefs) ties them together; the catalog, the
collections and every item carry ``"sitsfusion:synthetic": true``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitsfusion.geo.stac import SYNTHETIC_KEY  # marks every STAC object of the scene synthetic

__all__ = ["SYNTHETIC_KEY", "Acquisition", "SceneGrid", "build_catalog"]

S2_COLLECTION = "sentinel-2-l2a"
S1_COLLECTION = "sentinel-1-rtc"


@dataclass(frozen=True)
class Acquisition:
    """One written acquisition: its item id, time, platform, and its COG per asset key."""

    item_id: str
    datetime: dt.datetime  # UTC
    platform: str  # sentinel-2a, sentinel-1b, ...
    assets: Mapping[str, Path]  # asset key -> COG path
    cloud_cover: float | None = None  # Sentinel-2: % of SCL cloud pixels
    orbit_state: str | None = None  # Sentinel-1: "ascending" | "descending"


@dataclass(frozen=True)
class SceneGrid:
    """The scene's grid, as the STAC proj extension states it."""

    epsg: int
    transform: Sequence[float]  # affine a, b, c, d, e, f
    shape: tuple[int, int]  # (H, W)
    footprint: dict[str, Any]  # GeoJSON polygon in lon / lat
    bbox: Sequence[float]  # lon / lat


def _item(acq: Acquisition, grid: SceneGrid, constellation: str, instrument: str) -> Any:
    import pystac
    from pystac.extensions.projection import ProjectionExtension

    item = pystac.Item(
        acq.item_id,
        grid.footprint,
        list(grid.bbox),
        acq.datetime,
        {SYNTHETIC_KEY: True},
    )
    item.common_metadata.platform = acq.platform
    item.common_metadata.constellation = constellation
    item.common_metadata.instruments = [instrument]
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.apply(epsg=grid.epsg, transform=list(grid.transform), shape=list(grid.shape))
    item.properties["proj:epsg"] = grid.epsg  # as older catalogs say it (proj v1)
    return item


def _s2_item(acq: Acquisition, grid: SceneGrid, bands: Mapping[str, Sequence[Any]]) -> Any:
    import pystac
    from pystac.extensions.eo import Band, EOExtension
    from pystac.extensions.raster import DataType, RasterBand, RasterExtension
    from pystac.extensions.sat import OrbitState, SatExtension

    item = _item(acq, grid, "sentinel-2", "msi")
    SatExtension.ext(item, add_if_missing=True).orbit_state = OrbitState.DESCENDING
    EOExtension.ext(item, add_if_missing=True).cloud_cover = acq.cloud_cover
    RasterExtension.add_to(item)
    for key, path in acq.assets.items():
        asset = pystac.Asset(str(path), title=key, media_type=pystac.MediaType.COG, roles=["data"])
        item.add_asset(key, asset)
        if key in bands:
            common, wavelength = bands[key]
            EOExtension.ext(asset).bands = [
                Band.create(name=key, common_name=common, center_wavelength=wavelength)
            ]
            # L2A offset convention (processing baseline >= 04.00): DN * 0.0001 - 0.1
            raster = RasterBand.create(
                nodata=0, data_type=DataType.UINT16, scale=0.0001, offset=-0.1
            )
        else:  # SCL: classes, no scaling
            raster = RasterBand.create(nodata=0, data_type=DataType.UINT8)
        RasterExtension.ext(asset).bands = [raster]
    return item


def _s1_item(acq: Acquisition, grid: SceneGrid) -> Any:
    import pystac
    from pystac.extensions.raster import DataType, RasterBand, RasterExtension
    from pystac.extensions.sar import FrequencyBand, Polarization, SarExtension
    from pystac.extensions.sat import OrbitState, SatExtension

    item = _item(acq, grid, "sentinel-1", "c-sar")
    SarExtension.ext(item, add_if_missing=True).apply(
        instrument_mode="IW",
        frequency_band=FrequencyBand.C,
        polarizations=[Polarization.VV, Polarization.VH],
        product_type="RTC",
    )
    SatExtension.ext(item, add_if_missing=True).orbit_state = OrbitState(acq.orbit_state)
    RasterExtension.add_to(item)
    for key, path in acq.assets.items():
        asset = pystac.Asset(
            str(path),
            title=f"{key.upper()}: gamma0, linear power",
            media_type=pystac.MediaType.COG,
            roles=["data"],
        )
        item.add_asset(key, asset)
        band = RasterBand.create(data_type=DataType.FLOAT32)
        band.nodata = "nan"  # JSON has no NaN: the raster extension's spelling
        RasterExtension.ext(asset).bands = [band]
    return item


def _collection(collection_id: str, description: str, items: Sequence[Any]) -> Any:
    import pystac

    times = [item.datetime for item in items]
    bbox = items[0].bbox
    collection = pystac.Collection(
        collection_id,
        description,
        pystac.Extent(
            pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[min(times), max(times)]])
        ),
        license="other",
        extra_fields={SYNTHETIC_KEY: True},
    )
    collection.add_items(items)
    return collection


def build_catalog(
    root: Path,
    grid: SceneGrid,
    s2: Sequence[Acquisition],
    s1: Sequence[Acquisition],
    s2_bands: Mapping[str, Sequence[Any]],
    description: str,
) -> Path:
    """Write the static self-contained catalog ``root/catalog.json`` (relative hrefs) of the
    acquisitions, whose COGs are already under ``root/<collection>/<item id>/``; its path."""
    import pystac

    catalog = pystac.Catalog("sitsfusion-scene", description, extra_fields={SYNTHETIC_KEY: True})
    if s2:
        catalog.add_child(
            _collection(
                S2_COLLECTION,
                "Synthetic Sentinel-2 L2A surface reflectance (sitsfusion simulator).",
                [_s2_item(a, grid, s2_bands) for a in s2],
            )
        )
    if s1:
        catalog.add_child(
            _collection(
                S1_COLLECTION,
                "Synthetic Sentinel-1 RTC backscatter, ascending and descending "
                "(sitsfusion simulator).",
                [_s1_item(a, grid) for a in s1],
            )
        )
    catalog.normalize_hrefs(f"{root}/")  # the slash: a folder even if its name has a dot
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"
