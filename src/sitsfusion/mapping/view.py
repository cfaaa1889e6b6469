"""A look at a class map: one self-contained HTML file (``sitsfusion view``, ``map --view``).

The page works offline (no CDN, no web tiles, no external script or style sheet: agencies on
closed networks open it as it is): an inline SVG holds the class map as an embedded PNG
(band 1 of the raster, decimated so that it has at most ``max_pixels`` pixels), the parcels
as paths (simplified to the displayed pixel size) and the assessment points as circles; a
small inline script of ours pans (drag), zooms (wheel, +/- buttons and keys), toggles the
layers and shows a tooltip on hover. The legend lists the classes present in the map with
their areas; colours come from the packaged nomenclature whose class names the map uses
(``sitsfusion.data.nomenclatures``), else from a fixed qualitative palette; no data is
transparent. A banner says so when the map's ``synthetic`` tag is ``"true"``.

SVG user units are the raster's pixels: map coordinates ``(x, y)`` are at
``((x - c) / a, (y - f) / e)`` with the raster's affine ``(a, 0, c, 0, e, f)`` (the ``grid``
JSON of the page holds it), whatever the decimation of the PNG.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion import __version__
from sitsfusion.assessment.classmap import ClassMap, class_counts, open_class_map
from sitsfusion.assessment.sample import REFERENCE
from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file, write_text_atomic
from sitsfusion.optional import require

__all__ = [
    "GENERATOR",
    "MAX_PIXELS",
    "PARCELS_LAYER",
    "POINTS_LAYER",
    "class_colors",
    "is_view_file",
    "write_view",
]

GENERATOR = "sitsfusion"
"""Start of the page's ``<meta name="generator">``: how a page of ours is recognised (and may
be replaced); any other file at the output path is never overwritten."""
MAX_PIXELS = 2_000_000
"""Default bound on the embedded PNG's pixels: a whole Sentinel-2 tile (10,980² pixels) is
shown at about 80 m, a page of a few MB instead of hundreds."""
PARCELS_LAYER = "parcels"
"""The GeoPackage layer of the parcels (as ``sitsfusion map`` writes them)."""
POINTS_LAYER = "assessment_sample"
"""The GeoPackage layer of the assessment points (``sitsfusion assess design``;
:data:`sitsfusion.assessment.sample.LAYER`)."""

_PALETTE_MAPS = ("tab20", "tab20b", "tab20c")  # matplotlib's qualitative maps: 60 colours
_TRANSPARENT = 255  # PNG palette index of no data


@dataclass(frozen=True)
class _Picture:
    """The class map as displayed.

    Attributes:
        cmap: the raster's header (class names, nodata, CRS, affine, size).
        classes: ``[h, w]`` uint8 class values of the decimated map, :data:`_TRANSPARENT`
            where there is no data.
        step: raster pixels per displayed pixel (1: not decimated).
        counts: ``[K]`` pixels of each class in the whole raster.
    """

    cmap: ClassMap
    classes: np.ndarray
    step: int
    counts: np.ndarray


# --------------------------------------------------------------------------------------------
# the class map
# --------------------------------------------------------------------------------------------


def _decimation(height: int, width: int, max_pixels: int) -> int:
    """The smallest integer step whose decimated ``height x width`` grid has at most
    ``max_pixels`` pixels."""
    step = max(1, math.ceil(math.sqrt(height * width / max_pixels)))
    while math.ceil(height / step) * math.ceil(width / step) > max_pixels:
        step += 1
    return step


def _read_picture(path: Path, max_pixels: int) -> _Picture:
    """Band 1 of the class map ``path``, read decimated (nearest) to at most ``max_pixels``.

    Raises:
        DatasetError: missing file, not a GeoTIFF, no band, no ``classes`` tag, a rotated
            grid, a value that is neither a class nor nodata.
    """
    rasterio = require("rasterio", "raster", "reading a class map")
    from rasterio.enums import Resampling

    require_regular_file(path)
    try:
        with rasterio.open(path) as src:
            driver, count = src.driver, src.count
    except rasterio.errors.RasterioError as exc:
        raise DatasetError(path, f"not a readable GeoTIFF ({exc})") from None
    if driver != "GTiff":
        raise DatasetError(path, f"is a {driver} raster; expected a GeoTIFF / COG class map")
    if count < 1:
        raise DatasetError(path, "has no band; expected band 1 'class'")
    cmap = open_class_map(path)
    _, b, _, d, _, _ = cmap.transform
    if b or d:
        raise DatasetError(path, "has a rotated grid; the view shows north-up maps only")
    counts = class_counts(cmap)  # every value checked: a class or nodata
    step = _decimation(cmap.height, cmap.width, max_pixels)
    shape = (math.ceil(cmap.height / step), math.ceil(cmap.width / step))
    with rasterio.open(path) as src:
        values = src.read(1, out_shape=shape, resampling=Resampling.nearest)
    classes = np.full(shape, _TRANSPARENT, dtype=np.uint8)
    valid = values != cmap.nodata
    classes[valid] = values[valid]
    return _Picture(cmap, classes, step, counts)


@cache
def _nomenclatures() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """``(names, colours)`` of every packaged nomenclature."""
    from sitsfusion.data.taxonomy import load_nomenclature

    folder = resources.files("sitsfusion.data") / "nomenclatures"
    found = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            nomenclature = load_nomenclature(item.name.removesuffix(".json"))
            found.append((nomenclature.names, nomenclature.colors))
    return tuple(found)


def class_colors(names: Sequence[str]) -> tuple[str, ...]:
    """``#rrggbb`` colour of each class name: the colours of the packaged nomenclature that
    holds every name (case ignored; the first such in name order), else a fixed qualitative
    palette (matplotlib's tab20, tab20b, tab20c: 60 colours, then repeated)."""
    folded = [n.strip().casefold() for n in names]
    for known, colors in _nomenclatures():
        table = {n.casefold(): c for n, c in zip(known, colors, strict=True)}
        if all(n in table for n in folded):
            return tuple(table[n].lower() for n in folded)
    import matplotlib
    from matplotlib.colors import to_hex

    palette = [to_hex(c) for m in _PALETTE_MAPS for c in matplotlib.colormaps[m].colors]
    return tuple(palette[k % len(palette)] for k in range(len(names)))


def _png(classes: np.ndarray, colors: Sequence[str]) -> bytes:
    """``classes [h, w]`` as a palette PNG: class ``k`` in ``colors[k]``, index
    :data:`_TRANSPARENT` transparent."""
    from PIL import Image

    palette = np.zeros((256, 3), dtype=np.uint8)
    for k, color in enumerate(colors):
        palette[k] = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    alpha = bytes(0 if k == _TRANSPARENT else 255 for k in range(256))
    image = Image.fromarray(classes, mode="P")
    image.putpalette(palette.ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=alpha, optimize=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# the vector layers
# --------------------------------------------------------------------------------------------


def _read_layer(path: Path, layer: str, cmap: ClassMap) -> Any:  # geopandas.GeoDataFrame
    """Layer ``layer`` of the vector file ``path`` in the map's CRS (a layer without CRS is
    taken to be in it), only the features that meet the map's extent.

    Raises:
        DatasetError: missing or unreadable file, no such layer, a CRS that cannot be
            reprojected to the map's.
    """
    gpd = require("geopandas", "geo", "reading parcels and points")
    pyogrio = require("pyogrio", "geo", "reading parcels and points")
    from shapely.geometry import box

    require_regular_file(path)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises DataSourceError and others
        raise DatasetError(path, f"not a readable vector file ({exc})") from None
    if layer not in layers:
        raise DatasetError(path, f"has no layer {layer!r}; layers: {', '.join(layers) or 'none'}")
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:
        raise DatasetError(path, f"layer {layer!r} cannot be read ({exc})") from None
    if frame.crs is not None:
        if not cmap.crs:
            raise DatasetError(
                path, f"layer {layer!r} is in {frame.crs.name}; the map has no CRS to show it in"
            )
        try:
            frame = frame.to_crs(cmap.crs)
        except Exception as exc:  # pyproj's CRSError, ProjError
            raise DatasetError(
                path,
                f"layer {layer!r} ({frame.crs.name}) cannot be reprojected to the map's CRS "
                f"({exc})",
            ) from None
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    a, _, c, _, e, f = cmap.transform
    x = sorted((c, c + a * cmap.width))
    y = sorted((f, f + e * cmap.height))
    return frame[frame.intersects(box(x[0], y[0], x[1], y[1]))]


def _svg_xy(xy: np.ndarray, cmap: ClassMap) -> np.ndarray:
    """Map coordinates ``[n, 2]`` → SVG user units (raster pixels) ``[n, 2]``."""
    a, _, c, _, e, f = cmap.transform
    return np.column_stack([(xy[:, 0] - c) / a, (xy[:, 1] - f) / e])


def _num(value: float) -> str:
    """A coordinate with one decimal, no trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _path_data(geometry: Any, cmap: ClassMap) -> str:
    """SVG path data of a (multi)polygon: one ``M ... Z`` per ring (even-odd fill)."""
    import shapely

    parts = []
    for ring in shapely.get_rings(shapely.get_parts(geometry)):
        xy = _svg_xy(shapely.get_coordinates(ring)[:-1], cmap)
        points = " ".join(f"{_num(x)} {_num(y)}" for x, y in xy)
        parts.append(f"M{points}Z")
    return "".join(parts)


def _tip(*lines: str) -> str:
    return html.escape("\n".join(lines), quote=True)


def _cells(frame: Any, *names: str) -> list[Any]:
    """The values of the first column of ``frame`` among ``names`` (missing values: None);
    all None when there is no such column."""
    import pandas as pd

    column = next((frame[n] for n in names if n in frame.columns), None)
    if column is None:
        return [None] * len(frame)
    return [None if pd.isna(v) else v for v in column.tolist()]


def _parcel_paths(path: Path, picture: _Picture) -> list[str]:
    """The ``<path>`` of each parcel of ``path`` (an outline: the map shows through),
    simplified to half a displayed pixel; its tooltip: ``parcel_id`` (or ``parcel``),
    ``pred_name`` (or the name of ``pred_class``), ``confidence``, ``pixels``.

    Raises:
        DatasetError: as :func:`_read_layer`; a geometry that is not a (multi)polygon.
    """
    cmap = picture.cmap
    frame = _read_layer(path, PARCELS_LAYER, cmap)
    kinds = set(frame.geom_type) - {"Polygon", "MultiPolygon"}
    if kinds:
        raise DatasetError(
            path, f"layer {PARCELS_LAYER!r} holds {', '.join(sorted(kinds))}; parcels are polygons"
        )
    tolerance = 0.5 * picture.step * abs(cmap.transform[0])
    geometries = frame.geometry.simplify(tolerance, preserve_topology=True)
    rows = zip(
        geometries,
        frame.index,
        _cells(frame, "parcel_id", "parcel"),
        _cells(frame, "pred_name"),
        _cells(frame, "pred_class"),
        _cells(frame, "confidence"),
        _cells(frame, "pixels"),
        strict=True,
    )
    out = []
    for geometry, index, pid, name, k, confidence, pixels in rows:
        if geometry is None or geometry.is_empty:
            continue
        if name is None and k is not None and 0 <= int(k) < len(cmap.class_names):
            name = cmap.class_names[int(k)]
        lines = [f"parcel {index if pid is None else pid}", f"predicted: {name or 'unknown'}"]
        if confidence is not None:
            lines.append(f"confidence: {100 * float(confidence):.1f} %")
        if pixels is not None:
            lines.append(f"pixels: {int(pixels)}")
        out.append(f'<path d="{_path_data(geometry, cmap)}" data-tip="{_tip(*lines)}"/>')
    return out


def _point_circles(path: Path, cmap: ClassMap, colors: Sequence[str]) -> list[str]:
    """The ``<circle>`` of each assessment point of ``path``, filled with its map class's
    colour (the page sets the radius at each zoom); its tooltip: ``point_id``,
    ``map_class`` and ``reference`` when filled.

    Raises:
        DatasetError: as :func:`_read_layer`; a geometry that is not a point.
    """
    frame = _read_layer(path, POINTS_LAYER, cmap)
    kinds = set(frame.geom_type) - {"Point"}
    if kinds:
        raise DatasetError(
            path, f"layer {POINTS_LAYER!r} holds {', '.join(sorted(kinds))}; expected points"
        )
    if frame.empty:
        return []
    xy = _svg_xy(np.column_stack([frame.geometry.x, frame.geometry.y]), cmap)
    index = {name: k for k, name in enumerate(cmap.class_names)}
    rows = zip(
        xy,
        _cells(frame, "point_id"),
        _cells(frame, "map_class"),
        _cells(frame, REFERENCE),
        strict=True,
    )
    out = []
    for n, ((x, y), pid, mapped, reference) in enumerate(rows, start=1):
        mapped = "" if mapped is None else str(mapped).strip()
        reference = "" if reference is None else str(reference).strip()
        lines = [f"point {n if pid is None else pid}", f"map class: {mapped}"]
        if reference:
            lines.append(f"reference: {reference}")
        fill = colors[index[mapped]] if mapped in index else "#ffffff"
        out.append(
            f'<circle cx="{_num(x)}" cy="{_num(y)}" r="4" style="fill:{fill}" '
            f'data-tip="{_tip(*lines)}"/>'
        )
    return out


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------


def _crs_facts(cmap: ClassMap) -> tuple[str, float | None]:
    """``(label, metres per CRS unit)`` of the map's CRS (``None``: not a projected CRS in
    linear units, so no scale bar)."""
    if not cmap.crs:
        return "none", None
    from pyproj import CRS

    crs = CRS.from_wkt(cmap.crs)
    code = crs.to_epsg()
    label = f"EPSG:{code} ({crs.name})" if code else crs.name
    axis = crs.axis_info[0] if crs.axis_info else None
    metres = axis.unit_conversion_factor if crs.is_projected and axis else None
    return label, metres


def _length(metres: float) -> str:
    return f"{metres / 1000:.3g} km" if metres >= 1000 else f"{metres:.3g} m"


def _legend(picture: _Picture, colors: Sequence[str], metres: float | None) -> str:
    """Legend rows of the classes present in the map: colour, name, area and share."""
    cmap = picture.cmap
    total = max(int(picture.counts.sum()), 1)
    rows = []
    for k, name in enumerate(cmap.class_names):
        n = int(picture.counts[k])
        if not n:
            continue
        area = f"{n * cmap.pixel_area * metres**2 / 10_000:,.1f} ha · " if metres else ""
        rows.append(
            f'<li data-class="{k}" data-color="{colors[k]}">'
            f'<span class="swatch" style="background:{colors[k]}"></span>'
            f"{html.escape(name)}<small>{area}{100 * n / total:.1f} %</small></li>"
        )
    return "\n".join(rows)


def _info(picture: _Picture, crs_label: str, metres: float | None) -> str:
    """The line under the title: CRS, pixel size, map size."""
    cmap = picture.cmap
    a, e = abs(cmap.transform[0]), abs(cmap.transform[4])
    unit = (lambda v: _length(v * metres)) if metres else (lambda v: f"{v:.6g}")
    pixel = unit(a) if a == e else f"{unit(a)} × {unit(e)}"
    shown = f" (shown at {unit(a * picture.step)})" if picture.step > 1 else ""
    size = f"{cmap.width:,} × {cmap.height:,} pixels"
    extent = f" = {unit(a * cmap.width)} × {unit(e * cmap.height)}" if metres else ""
    return f"CRS {html.escape(crs_label)} · pixel {pixel}{shown} · map {size}{extent}"


def _page(
    title: str,
    picture: _Picture,
    colors: Sequence[str],
    parcels: list[str] | None,
    points: list[str] | None,
) -> str:
    """The whole HTML page."""
    cmap = picture.cmap
    crs_label, metres = _crs_facts(cmap)
    a, _, c, _, e, f = cmap.transform
    grid = {
        "width": cmap.width,
        "height": cmap.height,
        "png": [int(picture.classes.shape[1]), int(picture.classes.shape[0])],
        "transform": [a, c, e, f],
        "metres": None if metres is None else abs(a) * metres,  # metres per SVG unit
        "classes": {
            colors[k]: name for k, name in enumerate(cmap.class_names) if picture.counts[k]
        },
    }
    png = base64.b64encode(_png(picture.classes, colors)).decode("ascii")
    layers = [("classes", "class map")]
    groups = [
        f'<g id="classes"><image href="data:image/png;base64,{png}" x="0" y="0" '
        f'width="{cmap.width}" height="{cmap.height}" preserveAspectRatio="none"/></g>'
    ]
    for key, label, elements in (("parcels", "parcels", parcels), ("points", "points", points)):
        if elements is not None:
            layers.append((key, f"{label} ({len(elements):,})"))
            groups.append(f'<g id="{key}">\n' + "\n".join(elements) + "\n</g>")
    toggles = "\n".join(
        f'<label><input type="checkbox" data-layer="{key}" checked> {label}</label>'
        for key, label in layers
    )
    banner = (
        '<div id="synthetic">synthetic data: a map of data simulated by sitsfusion, not of '
        "a real place</div>"
        if cmap.synthetic
        else ""
    )
    data = json.dumps(grid).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR} {__version__}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1><p id="info">{_info(picture, crs_label, metres)}</p>
{banner}</header>
<main>
<div id="view">
<svg id="map" viewBox="0 0 {cmap.width} {cmap.height}" preserveAspectRatio="xMidYMid meet">
{chr(10).join(groups)}
</svg>
<div id="zoom"><button data-zoom="in" title="zoom in (+)">+</button><button data-zoom="out"
 title="zoom out (-)">−</button><button data-zoom="home" title="whole map (0)">⌂</button></div>
<div id="scale"><div id="bar"></div><span></span></div>
<div id="where"></div>
<div id="tip" hidden></div>
</div>
<aside><h2>Layers</h2>
{toggles}
<h2>Legend</h2><ul id="legend">
{_legend(picture, colors, metres)}
</ul>
<p class="note">No data: transparent. Drag to pan, wheel or +/− to zoom.</p></aside>
</main>
<script type="application/json" id="grid">{data}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def is_view_file(path: str | Path) -> bool:
    """True when ``path`` is a page :func:`write_view` wrote (its generator meta), which a
    new view may replace."""
    try:
        with open(path, "rb") as f:
            head = f.read(2048).decode("utf-8", errors="replace")
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR} ' in head


def write_view(
    out: Path,
    classes: Path,
    *,
    parcels: Path | None = None,
    points: Path | None = None,
    title: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Path:
    """Write a self-contained HTML look at the class map ``classes`` (works offline).

    Args:
        out: the page to write (atomically); an existing file is replaced only when it is a
            page sitsfusion wrote (:func:`is_view_file`).
        classes: the class map: a GeoTIFF / COG whose band 1 holds the classes and whose
            ``classes`` tag names them (``sitsfusion map`` / ``predict`` write it).
        parcels: a vector file with a :data:`PARCELS_LAYER` layer (``parcel_id``,
            ``pred_class``, ``pred_name``, ``confidence`` 0-1, ``pixels``), any CRS.
        points: an assessment sample (:data:`POINTS_LAYER` layer, ``point_id``,
            ``map_class``, ``reference``), any CRS.
        title: the page's title; default the map's folder and file name.
        max_pixels: bound on the embedded PNG's pixels ``h * w``: the map is read decimated
            (nearest) by the smallest integer step that keeps it under.

    Returns:
        ``out``.

    Raises:
        DatasetError: an input that is missing, not a GeoTIFF, without band or ``classes``
            tag, a vector file without its layer or in a CRS that cannot be reprojected.
        OutputError: ``out`` exists and was not written by sitsfusion, or is an input.
        ValueError: ``max_pixels`` below 1.
    """
    from sitsfusion.outputs import file_lock, prepare_output_file

    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    classes, out = Path(classes), Path(out)
    inputs = [classes, parcels, points]
    prepare_output_file(out, overwrite=True, inputs=inputs, owned=is_view_file)
    picture = _read_picture(classes, max_pixels)
    colors = class_colors(picture.cmap.class_names)
    parcel_paths = None if parcels is None else _parcel_paths(Path(parcels), picture)
    circles = None if points is None else _point_circles(Path(points), picture.cmap, colors)
    name = f"{classes.parent.name}/{classes.name}" if classes.parent.name else classes.name
    page = _page(title or f"Class map {name}", picture, colors, parcel_paths, circles)
    with file_lock(out):
        prepare_output_file(out, overwrite=True, inputs=inputs, owned=is_view_file)
        return write_text_atomic(out, page)


# --------------------------------------------------------------------------------------------
# the page's style and script (inline: nothing is fetched)
# --------------------------------------------------------------------------------------------

_CSS = """
html, body { margin: 0; height: 100%; font: 14px system-ui, sans-serif; color: #222; }
body { display: flex; flex-direction: column; }
header { padding: 6px 12px; border-bottom: 1px solid #ccc; }
h1 { font-size: 17px; margin: 0; }
h2 { font-size: 14px; margin: 12px 0 4px; }
#info { margin: 2px 0; color: #555; }
#synthetic { background: #ffd54f; color: #000; font-weight: 600; padding: 3px 8px;
  margin-top: 4px; }
main { flex: 1; display: flex; min-height: 0; }
#view { flex: 1; position: relative; overflow: hidden; background: #eee; }
#map { width: 100%; height: 100%; cursor: grab; touch-action: none; display: block; }
#map.drag { cursor: grabbing; }
#map image { image-rendering: pixelated; }
#parcels path { fill: #fff; fill-opacity: 0; stroke: #222; stroke-width: 1.5;
  vector-effect: non-scaling-stroke; }
#parcels path:hover, #points circle:hover { stroke: #000; stroke-width: 3; }
#points circle { stroke: #fff; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
aside { width: 250px; overflow: auto; padding: 4px 12px; border-left: 1px solid #ccc; }
aside label { display: block; }
#legend { list-style: none; padding: 0; margin: 0; }
#legend li { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
#legend small { margin-left: auto; color: #666; white-space: nowrap; }
.swatch { width: 14px; height: 14px; border: 1px solid #888; flex: none; }
.note { color: #666; font-size: 12px; }
#zoom { position: absolute; top: 8px; left: 8px; display: flex; flex-direction: column; }
#zoom button { width: 30px; height: 30px; font-size: 17px; margin-bottom: 2px; }
#scale { position: absolute; left: 8px; bottom: 8px; background: rgba(255,255,255,.8);
  padding: 2px 6px; font-size: 12px; }
#bar { height: 5px; border: 1px solid #000; border-top: none; }
#where { position: absolute; right: 8px; bottom: 8px; background: rgba(255,255,255,.8);
  padding: 2px 6px; font-size: 12px; }
#tip { position: absolute; pointer-events: none; background: #fff; border: 1px solid #888;
  padding: 4px 6px; white-space: pre; font-size: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
"""

_SCRIPT = """
"use strict";
(() => {
  const grid = JSON.parse(document.getElementById("grid").textContent);
  const svg = document.getElementById("map");
  const view = document.getElementById("view");
  const tip = document.getElementById("tip");
  const where = document.getElementById("where");
  const home = [0, 0, grid.width, grid.height];
  let box = home.slice();
  let drag = null;

  // SVG units per screen pixel (the viewBox is fitted, aspect kept)
  const unitsPerPixel = () => {
    const r = svg.getBoundingClientRect();
    return Math.max(box[2] / r.width, box[3] / r.height);
  };
  const toSvg = (event) => {
    const p = svg.createSVGPoint();
    p.x = event.clientX;
    p.y = event.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  };

  const scaleBar = (k) => {
    const scale = document.getElementById("scale");
    if (!grid.metres) { scale.hidden = true; return; }
    const perPixel = k * grid.metres;
    const most = 120 * perPixel;
    const power = Math.pow(10, Math.floor(Math.log10(most)));
    const length = [5, 2, 1].map((s) => s * power).find((v) => v <= most);
    document.getElementById("bar").style.width = `${length / perPixel}px`;
    scale.querySelector("span").textContent =
      length >= 1000 ? `${length / 1000} km` : `${length} m`;
  };

  const draw = () => {
    svg.setAttribute("viewBox", box.join(" "));
    const k = unitsPerPixel();
    for (const c of svg.querySelectorAll("#points circle")) c.setAttribute("r", 5 * k);
    scaleBar(k);
  };

  const zoom = (factor, p) => {
    const width = Math.min(Math.max(box[2] * factor, 2), 8 * Math.max(grid.width, grid.height));
    const f = width / box[2];
    box = [p.x - (p.x - box[0]) * f, p.y - (p.y - box[1]) * f, box[2] * f, box[3] * f];
    draw();
  };
  const centre = () => ({ x: box[0] + box[2] / 2, y: box[1] + box[3] / 2 });
  const button = { in: () => zoom(1 / 1.5, centre()), out: () => zoom(1.5, centre()),
    home: () => { box = home.slice(); draw(); } };

  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoom(Math.exp(event.deltaY * 0.0015), toSvg(event));
  }, { passive: false });
  svg.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, box: box.slice(), k: unitsPerPixel() };
    svg.setPointerCapture(event.pointerId);
    svg.classList.add("drag");
    tip.hidden = true;
  });
  const stop = () => { drag = null; svg.classList.remove("drag"); };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointercancel", stop);
  document.getElementById("zoom").addEventListener("click", (event) => {
    const action = event.target.dataset.zoom;
    if (action) button[action]();
  });
  document.addEventListener("keydown", (event) => {
    const action = { "+": "in", "=": "in", "-": "out", "0": "home" }[event.key];
    if (action && !event.target.closest("input")) button[action]();
  });
  for (const input of document.querySelectorAll("input[data-layer]")) {
    input.addEventListener("change", () => {
      document.getElementById(input.dataset.layer).style.display =
        input.checked ? "" : "none";
    });
  }

  // the class under the cursor: the embedded PNG's pixel colour, looked up in the legend
  const pixels = document.createElement("canvas");
  const image = new Image();
  image.onload = () => {
    [pixels.width, pixels.height] = grid.png;
    pixels.getContext("2d").drawImage(image, 0, 0);
  };
  image.src = svg.querySelector("image").getAttribute("href");
  const hex = (v) => v.toString(16).padStart(2, "0");
  const classAt = (p) => {
    const col = Math.floor(p.x * grid.png[0] / grid.width);
    const row = Math.floor(p.y * grid.png[1] / grid.height);
    if (!pixels.width || col < 0 || row < 0 || col >= grid.png[0] || row >= grid.png[1]) {
      return "";
    }
    const [r, g, b, a] = pixels.getContext("2d").getImageData(col, row, 1, 1).data;
    return a ? grid.classes[`#${hex(r)}${hex(g)}${hex(b)}`] || "" : "no data";
  };

  svg.addEventListener("pointermove", (event) => {
    const p = toSvg(event);
    if (drag) {
      box[0] = drag.box[0] - (event.clientX - drag.x) * drag.k;
      box[1] = drag.box[1] - (event.clientY - drag.y) * drag.k;
      draw();
      return;
    }
    const [a, c, e, f] = grid.transform;
    const label = classAt(p);
    where.textContent = `x ${(c + a * p.x).toFixed(1)} · y ${(f + e * p.y).toFixed(1)}` +
      (label ? ` · ${label}` : "");
    const item = event.target.closest("[data-tip]");
    if (!item) { tip.hidden = true; return; }
    tip.textContent = item.dataset.tip;
    tip.hidden = false;
    const r = view.getBoundingClientRect();
    tip.style.left = `${Math.min(event.clientX - r.left + 14, r.width - tip.offsetWidth - 4)}px`;
    tip.style.top = `${Math.min(event.clientY - r.top + 14, r.height - tip.offsetHeight - 4)}px`;
  });
  svg.addEventListener("pointerleave", () => { tip.hidden = true; });
  window.addEventListener("resize", draw);
  draw();
})();
"""
