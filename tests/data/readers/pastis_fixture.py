"""Write a tiny fake PASTIS / PASTIS-R dataset for tests (test-only, random values).

Every patch has the same five rectangular parcels (instance ids 1..5), with classes drawn per
patch:

* parcel 1 and 2: one crop class each;
* parcel 3: a 2 × 2 crop parcel (4 pixels, smaller than a usual pixel-set size);
* parcel 4: void (19) only, so a parcel reader must skip it;
* parcel 5: a majority crop class, its first row void and one pixel of another crop.

Row ``size * 7 // 16`` is void without instance, everything else background (0). The first
S2 date of every patch is 2018-09-24 (day 23 from 2018-09-01). ``NORM_*`` files hold made-up
statistics that differ between folds: fold k has mean ``1000 k + c`` / std ``100 + 10 k + c``
for S2 band c, mean ``-10 - k`` / std ``2 + 0.1 k`` for S1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np

FIRST_ID = 10000
REFERENCE = date(2018, 9, 1)
CHANNELS = {"S2": 10, "S1A": 3, "S1D": 3}


def parcel_boxes(size: int) -> dict[int, tuple[int, int, int, int]]:
    """Instance id -> (row0, row1, col0, col1) of the five parcels of a ``size`` patch."""
    s = size
    return {
        1: (0, s * 3 // 8, 0, s * 3 // 8),
        2: (0, s * 3 // 8, s // 2, s),
        3: (s // 2, s // 2 + 2, 0, 2),
        4: (s // 2, s * 7 // 8, s // 4, s * 5 // 8),
        5: (s // 2, s, s * 11 // 16, s),
    }


def _dates(rng: np.random.Generator, t_range: tuple[int, int], first: int | None) -> list[int]:
    t = int(rng.integers(t_range[0], t_range[1] + 1))
    pool = np.arange(24, 420)
    days = np.sort(rng.choice(pool, size=t, replace=False))
    if first is not None:
        days[0] = first
    return [int((REFERENCE + timedelta(days=int(d))).strftime("%Y%m%d")) for d in days]


def _norm(modality: str) -> dict[str, dict[str, list[float]]]:
    c = np.arange(CHANNELS[modality])
    out = {}
    for k in range(1, 6):
        if modality == "S2":
            mean, std = 1000.0 * k + c, 100.0 + 10 * k + c
        else:
            mean, std = -10.0 - k + 0 * c, 2.0 + 0.1 * k + 0 * c
        out[f"Fold_{k}"] = {"mean": mean.tolist(), "std": std.tolist()}
    return out


def write_pastis(
    root: str | Path,
    n_patches: int = 5,
    size: int = 16,
    t_s2: tuple[int, int] = (5, 8),
    t_s1: tuple[int, int] = (6, 10),
    modalities: Sequence[str] = ("S2", "S1A", "S1D"),
    seed: int = 0,
    dates_as_json_string: bool = False,
) -> Path:
    """Write the dataset under ``root`` (created) and return ``root``.

    Patch ``i`` has ID_PATCH ``10000 + i`` and fold ``i % 5 + 1``. ``dates_as_json_string``
    stores the ``dates-*`` properties as JSON strings (what newer pyogrio hands back).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for m in modalities:
        (root / f"DATA_{m}").mkdir(parents=True, exist_ok=True)
        (root / f"NORM_{m}_patch.json").write_text(json.dumps(_norm(m), indent=4))
    (root / "ANNOTATIONS").mkdir(parents=True, exist_ok=True)
    (root / "INSTANCE_ANNOTATIONS").mkdir(parents=True, exist_ok=True)

    features = []
    for i in range(n_patches):
        pid = FIRST_ID + i
        semantic = np.zeros((size, size), dtype=np.uint8)
        instances = np.zeros((size, size), dtype=np.int64)
        semantic[size * 7 // 16] = 19
        crops = rng.choice(np.arange(1, 19), size=4, replace=False)
        classes = {1: crops[0], 2: crops[1], 3: crops[2], 4: 19, 5: crops[3]}
        for inst, (r0, r1, c0, c1) in parcel_boxes(size).items():
            semantic[r0:r1, c0:c1] = classes[inst]
            instances[r0:r1, c0:c1] = inst
        r0, _, c0, _ = parcel_boxes(size)[5]
        semantic[r0, c0:] = 19
        semantic[r0 + 1, c0] = crops[0]
        target = np.stack([semantic, semantic, np.zeros_like(semantic)])
        np.save(root / "ANNOTATIONS" / f"TARGET_{pid}.npy", target)
        parcel_ids = np.where(instances > 0, 5_000_000 + 100 * i + instances, 0).astype(np.int32)
        np.save(root / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy", parcel_ids)
        np.save(root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy", instances)
        np.save(root / "INSTANCE_ANNOTATIONS" / f"ZONES_{pid}.npy", instances)
        np.save(root / "INSTANCE_ANNOTATIONS" / f"HEATMAP_{pid}.npy", np.zeros((size, size)))

        props: dict[str, object] = {
            "ID_PATCH": pid,
            "Fold": i % 5 + 1,
            "N_Parcel": 5,
            "Parcel_Cover": float((instances > 0).mean()),
            "TILE": "t30uxv",
            "REGION": "test",
        }
        for m in modalities:
            if m == "S2":
                dates = _dates(rng, t_s2, first=23)
                data = rng.integers(0, 10000, size=(len(dates), 10, size, size), dtype=np.int16)
            else:
                dates = _dates(rng, t_s1, first=None)
                shape = (len(dates), CHANNELS[m], size, size)
                data = rng.normal(-12.0, 4.0, size=shape).astype(np.float32)
            np.save(root / f"DATA_{m}" / f"{m}_{pid}.npy", data)
            as_dict = {str(k): d for k, d in enumerate(dates)}
            props[f"dates-{m}"] = json.dumps(as_dict) if dates_as_json_string else as_dict
        x0, y0, side = 400_000.0 + 1500.0 * i, 6_900_000.0, 10.0 * size
        ring = [[x0, y0], [x0 + side, y0], [x0 + side, y0 - side], [x0, y0 - side], [x0, y0]]
        features.append(
            {
                "type": "Feature",
                "id": str(pid),
                "properties": props,
                "geometry": {"type": "MultiPolygon", "coordinates": [[ring]]},
            }
        )
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
        "features": features,
    }
    (root / "metadata.geojson").write_text(json.dumps(collection, indent=1))
    return root
