"""The windows a scene is predicted in, and the blocks they are grouped into.

A scene of ``H x W`` pixels is covered by square **windows** of ``size`` pixels (the size the
model was trained on) that overlap by ``overlap`` pixels: along each axis they start every
``stride = size - overlap`` pixels, the last one shifted back to end at the scene's edge (as
``prepare`` shifts its last patch). Every pixel's probabilities are the mean of the windows
covering it, weighted by :func:`~sitsfusion.inference.mosaic.patch_weights` (a linear taper,
highest at a window's centre): no seam at window borders.

Windows are grouped into **blocks** of at most ``block x block`` windows of the lattice (each
axis cut into runs as equal as can be: 18 windows by 5 give 5, 5, 4, 4): a block is
the unit of work (one task of the cluster, one read of the imagery, one file of results,
resumed as a whole). A block reads the union of its windows (its :attr:`Block.extent`), which
overlaps the next blocks' by ``overlap`` pixels; each window belongs to exactly one block, so
no window is predicted twice, and the blending is the same whatever the blocks (the results
of neighbouring blocks are summed where they overlap, :mod:`sitsfusion.mapping.assemble`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sitsfusion.geo.grid import window_starts

__all__ = ["Block", "Window", "plan_blocks", "window_starts"]  # window_starts: geo.grid


@dataclass(frozen=True)
class Window:
    """One window: its first pixel ``r0``, ``c0`` in the scene and its side ``size``."""

    r0: int
    c0: int
    size: int


@dataclass(frozen=True)
class Block:
    """At most ``block x block`` windows of the lattice (:func:`plan_blocks`).

    Attributes:
        row, col: the block's place in the grid of blocks.
        windows: its windows, row-major.
    """

    row: int
    col: int
    windows: tuple[Window, ...]

    @property
    def name(self) -> str:
        """``"<row>_<col>"``: the name of the block's result file."""
        return f"{self.row}_{self.col}"

    @property
    def extent(self) -> tuple[int, int, int, int]:
        """``(r0, c0, r1, c1)``: the pixels its windows cover (what it reads)."""
        r0 = min(w.r0 for w in self.windows)
        c0 = min(w.c0 for w in self.windows)
        r1 = max(w.r0 + w.size for w in self.windows)
        c1 = max(w.c0 + w.size for w in self.windows)
        return r0, c0, r1, c1


def plan_blocks(shape: tuple[int, int], size: int, overlap: int, block: int) -> list[Block]:
    """The blocks of a scene of ``shape = (H, W)`` pixels, row-major.

    Args:
        shape: the scene (at least ``size`` pixels each way).
        size: window side in pixels.
        overlap: pixels shared by neighbouring windows (``0 <= overlap < size``).
        block: at most this many windows per side of a block (>= 1); each axis is cut
            into ``ceil(windows / block)`` runs of near-equal length.

    Raises:
        ValueError: a scene smaller than a window, an overlap outside ``[0, size)``, a block
            below 1.
    """
    if not 0 <= overlap < size:
        raise ValueError(f"the overlap must be in [0, {size}) pixels, got {overlap}")
    if block < 1:
        raise ValueError(f"a block holds at least 1 window per side, got {block}")
    rows = window_starts(shape[0], size, size - overlap)
    cols = window_starts(shape[1], size, size - overlap)
    blocks = []
    for i, row_run in enumerate(_runs(len(rows), block)):
        for j, col_run in enumerate(_runs(len(cols), block)):
            windows = tuple(Window(rows[a], cols[b], size) for a in row_run for b in col_run)
            blocks.append(Block(i, j, windows))
    return blocks


def _runs(n: int, block: int) -> list[range]:
    """``n`` windows of an axis in ``ceil(n / block)`` consecutive runs of near-equal length
    (the longer ones first): no block left with a sliver of the scene's last windows."""
    count = -(-n // block)
    base, longer = divmod(n, count)
    runs, start = [], 0
    for k in range(count):
        length = base + (k < longer)
        runs.append(range(start, start + length))
        start += length
    return runs
