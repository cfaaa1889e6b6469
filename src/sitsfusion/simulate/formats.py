"""Per-format defaults and checks of ``sitsfusion simulate`` (synthetic data).

Every on-disk format the simulator writes has its own default patch size (the real dataset's),
its regions, and the patch sizes the repository's configs for that format can train on. The
command line reads them here, so its ``--help`` and its error messages say the same thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sitsfusion.simulate import multisenge, pastis, regions, scene, sen4agrinet

__all__ = ["FORMATS", "SimulatorFormat", "uncovered_splits"]

_TILE = re.compile(r"^\d{2}[A-Z]{3}$")
_YEARS = (2016, 2100)  # the Sentinel-2 era (as simulate_pastis checks)


@dataclass(frozen=True)
class SimulatorFormat:
    """What ``sitsfusion simulate --format NAME`` writes and accepts."""

    name: str  # the --format value
    title: str  # the format's name in messages
    writer: Callable[..., Any]
    size: int  # default patch side: the real dataset's
    size_multiple: int  # --size must be a multiple of it ...
    min_size: int  # ... and at least this
    size_reason: str  # why (the readers / configs that need it)
    subpatch: int | None = None  # side of the sub-patches the configs cut; None: they cut none
    subpatch_reason: str = ""  # which configs cut them
    region: str | None = None  # default region; None: the format has no --region
    regions: tuple[str, ...] = ()  # the named regions
    any_region: bool = False  # other names are accepted too (hashed into a region)
    year: int | None = None  # default year; None: the format's year is fixed
    clouds: bool = False  # --cloud-cover applies
    tiles: tuple[str, ...] | None = None  # default tiles; None: the format has no --tiles
    progress: bool = False  # the writer can show a progress bar
    patches: bool = True  # the format is a set of patches; False: one scene (no --patches)
    geotiff: bool = False  # the writer can add the GeoTIFF-folder layout (--geotiff)

    def check_subpatch(self, subpatch: int | None) -> int | None:
        """The side of the sub-patches the training configs cut: ``subpatch``, or the default."""
        if self.subpatch is None:
            if subpatch is not None:
                raise ValueError(f"{self.title} configs cut no sub-patches (do not pass one)")
            return None
        if subpatch is None:
            return self.subpatch
        if subpatch < 1:
            raise ValueError(f"must be >= 1, got {subpatch}")
        return subpatch

    def size_rule(self, subpatch: int | None = None) -> tuple[int, int, str]:
        """``(multiple, minimum, reasons)``: the patch sides the format's configs can use, with
        sub-patches of side ``subpatch`` (default: the configs')."""
        reasons = self.size_reason
        if subpatch is None and self.subpatch is not None:
            subpatch = self.subpatch
            reasons += f", and {self.subpatch_reason}"
        elif subpatch is not None:
            reasons += f", and the config cuts {subpatch} x {subpatch} sub-patches (--subpatch)"
        step = self.size_multiple if subpatch is None else math.lcm(self.size_multiple, subpatch)
        return step, max(self.min_size, step), reasons

    def check_size(self, size: int | None, subpatch: int | None = None) -> int:
        """The patch side to write: ``size``, or the default; ``ValueError`` if the format's
        configs (cutting sub-patches of side ``subpatch``) cannot use it."""
        given = f"got {size}" if size is not None else f"got the default {self.size}"
        size = self.size if size is None else size
        step, low, reasons = self.size_rule(subpatch)
        if size < low or size % step:
            if step == 1:
                rule = f">= {low}"
            else:
                rule = f"a multiple of {step}" + (f" >= {low}" if low > step else "")
            raise ValueError(f"{self.title} patches need a side that is {rule}: {reasons}; {given}")
        return size

    def check_region(self, region: str | None) -> str | None:
        """The region to simulate: ``region`` (normalised), or the default."""
        if self.region is None:
            if region is not None:
                raise ValueError(f"{self.title} has no regions (do not pass one)")
            return None
        if region is None:
            return self.region
        key = region.strip().lower()
        if key in self.regions:
            return key
        if self.any_region and key:
            return region.strip()
        raise ValueError(
            f"unknown {self.title} region {region!r}; valid: {', '.join(self.regions)}"
        )

    def check_year(self, year: int | None) -> int | None:
        """The year to simulate: ``year``, or the default."""
        if self.year is None:
            if year is not None:
                raise ValueError(f"{self.title} covers one year only (do not pass one)")
            return None
        if year is None:
            return self.year
        if not _YEARS[0] <= year <= _YEARS[1]:
            raise ValueError(f"must be in {_YEARS[0]}..{_YEARS[1]} (Sentinel-2 era), got {year}")
        return year

    def check_cloud_cover(self, cloud_cover: float | None) -> float | None:
        """The cloud cover to pass, or None for the writer's default."""
        if cloud_cover is None:
            return None
        if not self.clouds:
            raise ValueError(f"{self.title} dates are already thinned by clouds (do not pass one)")
        if not 0.0 <= cloud_cover <= 1.0:
            raise ValueError(f"must be in [0, 1], got {cloud_cover}")
        return cloud_cover

    def check_tiles(self, tiles: str | None) -> tuple[str, ...] | None:
        """The tiles to spread patches over, from a comma-separated list, or the default."""
        if self.tiles is None:
            if tiles is not None:
                raise ValueError(f"{self.title} patches have no tile option (do not pass one)")
            return None
        if tiles is None:
            return self.tiles
        names = tuple(t.strip().upper().removeprefix("T") for t in tiles.split(",") if t.strip())
        bad = [t for t in names if not _TILE.match(t)]
        if bad or not names:
            raise ValueError(
                f"Sentinel-2 tile names such as 31UFQ, comma-separated, expected; got {tiles!r}"
            )
        return names


def uncovered_splits(tiles: Sequence[str], patches: int) -> list[str]:
    """Splits of the MultiSenGE paper (train, val, test; seed 003 Sec. 2.2) that get no patch
    when ``patches`` patches are spread over ``tiles`` in turn."""
    from sitsfusion.data.readers.multisenge import tile_split

    used = {tiles[i % len(tiles)] for i in range(min(patches, len(tiles)))}
    split = tile_split(f"{t}_0_0" for t in used)
    return [name for name in ("train", "val", "test") if not split[name]]


FORMATS: Mapping[str, SimulatorFormat] = MappingProxyType(
    {
        "pastis-r": SimulatorFormat(
            name="pastis-r",
            title="PASTIS-R",
            writer=pastis.simulate_pastis,
            size=128,  # PASTIS patches are 128 x 128 (seed 001 Sec. 4.1)
            size_multiple=8,
            min_size=8,
            size_reason="the U-TAE of configs/garnot2021 (default hyperparameters, seed 001 "
            "Sec. 3.4) down-samples 3 times by 2",
            region="west",
            regions=tuple(regions.REGIONS),
            any_region=True,
            year=2019,  # PASTIS: the 2019 season (seed 001 Sec. 4.1)
            clouds=True,
            progress=True,
        ),
        "sen4agrinet": SimulatorFormat(
            name="sen4agrinet",
            title="Sen4AgriNet",
            writer=sen4agrinet.simulate_sen4agrinet,
            size=sen4agrinet.PATCH_SIZE,
            size_multiple=6,
            min_size=12,
            size_reason="the 20 m and 60 m bands need a multiple of 6",
            subpatch=61,  # configs/sykas2022/pad: reader.subpatch 61 (seed 004 Sec. VI-A)
            subpatch_reason="configs/sykas2022 cut 61 x 61 sub-patches (data.reader.subpatch, "
            "seed 004 Sec. VI-A; --subpatch for another side)",
            region="catalonia",
            regions=tuple(sen4agrinet.REGIONS),
            year=2019,  # Sen4AgriNet: 2019 and 2020 (seed 004 Sec. V)
            clouds=True,
            progress=True,
        ),
        "multisenge": SimulatorFormat(
            name="multisenge",
            title="MultiSenGE",
            writer=multisenge.simulate_multisenge,
            size=multisenge.PATCH_SIZE,
            size_multiple=1,
            min_size=16,
            size_reason="the VGG-16 U-Net of configs/wenger2022 max-pools 4 times "
            "(seed 003 Fig. 5)",
            tiles=multisenge.SPLIT_TILES,
        ),
        "scene": SimulatorFormat(
            name="scene",
            title="own-area scene",
            writer=scene.simulate_scene,
            size=scene.SCENE_SIZE,  # 2 km x 2 km at 10 m: a few km², written in seconds
            size_multiple=1,
            min_size=16,
            size_reason="a scene holds a few parcels of about 2 ha (seed 000 Sec. 3.1)",
            region="west",
            regions=tuple(regions.REGIONS),
            any_region=True,
            year=2019,  # as pastis-r: the PASTIS season (seed 001 Sec. 4.1)
            clouds=True,
            patches=False,
            geotiff=True,
            progress=True,
        ),
    }
)
"""``--format`` name -> what it writes and accepts."""
