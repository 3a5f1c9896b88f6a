"""What `python -m mnist_lightning.tune` leaves in its run directory: lr_find.json and lr_find.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mnist_lightning.io import write_bytes_atomic, write_json_atomic
from mnist_lightning.reports.figures import png_bytes

PLOT, RESULTS = "lr_find.png", "lr_find.json"


def write_lr_find(run_dir: Path, results: dict[str, Any]) -> None:
    """The finder's results as JSON (non-finite losses as null) and its curve as a PNG."""
    write_json_atomic(run_dir / RESULTS, results)
    figure = loss_figure(results["lr"], results["loss"], results["suggested_lr"])
    write_bytes_atomic(run_dir / PLOT, png_bytes(figure))


def loss_figure(lrs: list[float], losses: list[float], suggested: float | None) -> Figure:
    """Smoothed loss against LR on a log axis, the suggested LR marked."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_axes((0.11, 0.12, 0.85, 0.8))  # fixed: tight_layout would cost a second draw
    shown = np.asarray(losses, dtype=float)
    shown[~np.isfinite(shown)] = np.nan  # gaps, not an axis stretched to infinity
    ax.plot(lrs, shown, "-", color="tab:blue")
    if suggested is not None:
        ax.axvline(suggested, color="tab:red", linestyle="--", linewidth=1)
        mark = shown[lrs.index(suggested)]
        ax.plot([suggested], [mark], "o", color="tab:red", label=f"suggested lr {suggested:.2g}")
        ax.legend()
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title("LR finder" + ("" if suggested is not None else ": too few points for a suggestion"))
    ax.grid(alpha=0.3)
    return fig
