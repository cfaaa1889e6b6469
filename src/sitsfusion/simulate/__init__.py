"""The simulator: **synthetic** datasets in the real on-disk formats (no pixel is real).

One engine, one writer per format:

* engine — :mod:`~sitsfusion.simulate.layout` (fields, roads, labels, PASTIS annotations),
  :mod:`~sitsfusion.simulate.regions` and :mod:`~sitsfusion.simulate.weather` (regions, rain,
  frost, acquisition days), :mod:`~sitsfusion.simulate.phenology` (greenness curves),
  :mod:`~sitsfusion.simulate.units` (per-unit state), :mod:`~sitsfusion.simulate.optical`
  (Sentinel-2 model, clouds), :mod:`~sitsfusion.simulate.radar` (Sentinel-1 model), with their
  tables as data in ``params/*.json`` (:mod:`~sitsfusion.simulate.params`);
* writers — :func:`simulate_pastis` (PASTIS-R), :func:`simulate_sen4agrinet` (Sen4AgriNet
  netCDF), :func:`simulate_multisenge` (MultiSenGE GeoTIFF), :func:`simulate_scene` (an
  own-area scene: Sentinel-2 / Sentinel-1 COGs in a static STAC catalog, parcels in a
  GeoPackage; its STAC objects in :mod:`~sitsfusion.simulate.scene_stac`);
* :mod:`~sitsfusion.simulate.formats` — per-format defaults and checks of the command line.
"""

from sitsfusion.simulate.multisenge import simulate_multisenge
from sitsfusion.simulate.pastis import simulate_pastis
from sitsfusion.simulate.scene import simulate_scene
from sitsfusion.simulate.sen4agrinet import simulate_sen4agrinet

__all__ = ["simulate_multisenge", "simulate_pastis", "simulate_scene", "simulate_sen4agrinet"]
