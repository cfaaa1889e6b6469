"""The windows and blocks of a scene: every pixel covered, every window in one block, the
regions tiling the scene (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.mapping.assemble import regions
from sitsfusion.mapping.windows import plan_blocks, window_starts


@st.composite
def scenes(draw: st.DrawFn) -> tuple[tuple[int, int], int, int, int]:
    size = draw(st.integers(4, 24))
    overlap = draw(st.integers(0, size - 1))
    shape = (draw(st.integers(size, 90)), draw(st.integers(size, 90)))
    return shape, size, overlap, draw(st.integers(1, 4))


@settings(max_examples=150, deadline=None)
@given(scenes())
def test_windows_cover_the_scene_once_per_block_and_the_regions_tile_it(case) -> None:
    shape, size, overlap, block = case
    blocks = plan_blocks(shape, size, overlap, block)
    cover = np.zeros(shape, dtype=int)
    seen = set()
    for b in blocks:
        assert 1 <= len(b.windows) <= block * block
        r0, c0, r1, c1 = b.extent
        assert 0 <= r0 < r1 <= shape[0] and 0 <= c0 < c1 <= shape[1]
        for w in b.windows:
            assert (w.r0, w.c0) not in seen  # a window belongs to one block
            seen.add((w.r0, w.c0))
            assert w.r0 + size <= shape[0] and w.c0 + size <= shape[1]  # inside the scene
            cover[w.r0 : w.r0 + size, w.c0 : w.c0 + size] += 1
    assert cover.min() >= 1  # no pixel left out
    tiles = np.zeros(shape, dtype=int)
    for region in regions(blocks, shape):
        tiles[region.r0 : region.r1, region.c0 : region.c1] += 1
    assert (tiles == 1).all()  # the regions tile the scene


def test_the_last_window_is_shifted_back_to_the_edge() -> None:
    assert window_starts(100, 32, 28) == [0, 28, 56, 68]
    assert window_starts(32, 32, 32) == [0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (((10, 40), 16, 0, 1), "holds no window"),
        (((40, 40), 16, 16, 1), "overlap must be in"),
        (((40, 40), 16, 2, 0), "at least 1 window"),
    ],
)
def test_bad_plans_are_refused(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        plan_blocks(*args)


def _found(**dates: int) -> dict:
    from sitsfusion.geo.imagery import SensorSource
    from sitsfusion.geo.sensors import sensor_spec

    return {
        s: SensorSource("catalog.json", sensor_spec(s), "stac", tuple(range(n)))
        for s, n in dates.items()
    }


@pytest.mark.parametrize(
    ("dates", "block"),
    [({"S2": 44}, 11), ({"S2": 70}, 9), ({"S2": 44, "S1A": 68, "S1D": 68}, 8), ({"S2": 9000}, 1)],
)
def test_default_block_keeps_the_block_imagery_in_its_budget(dates, block) -> None:
    """A block's imagery in memory (the numbers as read: its windows make their values when
    predicted) fits BLOCK_BYTES, and one more window per side would not (at least one)."""
    from sitsfusion.mapping.scene import BLOCK_BYTES, default_block

    found = _found(**dates)
    got = default_block(found, 128, 16)
    assert got == block

    def nbytes(n: int) -> int:
        side = n * 112 + 16
        per_pixel = sum(
            len(f.entries) * (2 if f.spec.is_optical else 4) * len(f.spec.read_bands)
            for f in found.values()
        )
        return side * side * per_pixel

    assert got == 1 or nbytes(got) <= BLOCK_BYTES
    assert nbytes(got + 1) > BLOCK_BYTES


@pytest.mark.parametrize(
    ("shape", "block"),
    [((20000, 20000), 11), ((2000, 2000), 5), ((2000, 600), 4), ((1000, 1000), 4), ((256, 256), 4)],
)
def test_default_block_leaves_a_scene_its_minimum_of_blocks(shape, block) -> None:
    """The memory-bound block (11 for S2 with 44 dates), made smaller on a scene that has the
    windows for MIN_BLOCKS blocks (16): 18 x 18 windows of 128 px in 2000 px give 16 blocks of
    up to 5 x 5; never below MIN_BLOCK_PX (4 windows): 9 x 9 windows give 9 blocks of 3 x 3, a
    scene of 2 x 2 windows one block."""
    from sitsfusion.mapping.scene import MIN_BLOCK_PX, MIN_BLOCKS, default_block

    got = default_block(_found(S2=44), 128, 16, shape)
    assert got == block
    rows, cols = (len(window_starts(n, 128, 112)) for n in shape)
    count = len(plan_blocks(shape, 128, 16, got))
    assert count >= MIN_BLOCKS or (got - 1) * 112 + 16 < MIN_BLOCK_PX
    assert got == 11 or len(plan_blocks(shape, 128, 16, got + 1)) < MIN_BLOCKS
    assert count == -(-rows // got) * -(-cols // got)
