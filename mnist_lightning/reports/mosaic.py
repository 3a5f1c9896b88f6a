"""Image grids for the report: many small images drawn as one mosaic on one axes, each under a caption."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

COLS = 8  # cells per row of an image grid
TITLE_INCHES = 0.5  # above an image grid, for its title


def tile(cells: np.ndarray, cap: int, gap: int) -> np.ndarray:
    """Cells (N, H, W) or colour (N, H, W, 3), COLS to a row below a caption band, as one image.

    Grayscale cells are each scaled to [0, 1] (their own contrast, as imshow gave), NaN between them;
    colour cells (uint8) are shown as stored, since stretching each channel would change their hues,
    white between them.
    """
    n, h, w = cells.shape[:3]
    colour = cells.shape[3:]  # () or (3,)
    rows = max(1, -(-n // COLS))
    cells = cells.astype(np.float32)
    if colour:
        scaled, between = cells / 255.0, 1.0
    else:
        low = cells.min(axis=(1, 2), keepdims=True)  # (N, 1, 1)
        span = cells.max(axis=(1, 2), keepdims=True) - low
        scaled, between = (cells - low) / np.where(span > 0, span, 1), np.nan
    grid = np.full((rows * COLS, cap + h, w + gap, *colour), between, dtype=np.float32)
    grid[:n, cap:, gap // 2 : gap // 2 + w] = scaled
    # (rows, COLS, cap + H, W + gap[, 3]) -> (rows, cap + H, COLS, W + gap[, 3]): one image, row by row
    grid = grid.reshape(rows, COLS, cap + h, w + gap, *colour).swapaxes(1, 2)
    return grid.reshape(rows * (cap + h), COLS * (w + gap), *colour)


def grid_figure(
    cells: np.ndarray,
    captions: Sequence[tuple[str, str]],
    title: str,
    cmap: str,
    cell_inches: float,
    fontsize: int,
) -> Figure:
    """Cells (N, H, W) or (N, H, W, 3) as one image on one axes, each under its (caption, colour)."""
    h, w = cells.shape[1:3]  # N may be 0: blank cells
    cap, gap = max(2, h * 3 // 8), max(1, w // 4)  # caption band above each cell, gap beside it
    mosaic = tile(cells, cap, gap)  # (rows * (cap + H), COLS * (W + gap)[, 3])
    width = COLS * cell_inches
    image_height = width * mosaic.shape[0] / mosaic.shape[1]
    fig = Figure(figsize=(width, image_height + TITLE_INCHES))
    ax = fig.add_axes((0, 0, 1, image_height / (image_height + TITLE_INCHES)))  # fixed: no tight_layout
    # The colour map serves grayscale cells; RGB cells (a 3-D mosaic) are drawn as they are.
    ax.imshow(mosaic, cmap=matplotlib.colormaps[cmap].with_extremes(bad="white"), vmin=0, vmax=1,
              interpolation="nearest")  # fmt: skip
    ax.axis("off")
    for i, (caption, color) in enumerate(captions):
        row, col = divmod(i, COLS)
        x, y = col * (w + gap) + gap // 2 + (w - 1) / 2, row * (cap + h) + (cap - 1) / 2
        ax.text(x, y, caption, ha="center", va="center", fontsize=fontsize, color=color)
    fig.suptitle(title)
    return fig
