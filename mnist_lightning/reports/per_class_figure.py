"""The per-class accuracy bar chart, drawn beside the confusion matrix (report/ and the loggers)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Each class's accuracy (its recall) from (K, K) true x predicted counts; NaN for a class not tested."""
    support = cm.sum(axis=1)  # (K,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)  # (K,)


def per_class_figure(cm: np.ndarray, names: Sequence[str]) -> Figure:
    """A bar per class: its accuracy in %, the overall accuracy as a line, the worst class in red."""
    accuracy = 100 * per_class_accuracy(cm)  # (K,)
    overall = 100 * np.trace(cm) / max(1, cm.sum())
    fig = Figure(figsize=(max(6.0, 0.22 * len(cm)) + 1, 3.5))
    ax = fig.add_axes((0.08, 0.2, 0.9, 0.7))  # fixed: tight_layout would cost a second draw
    shown = np.nan_to_num(accuracy)  # a class with no test image draws no bar
    colors = ["tab:blue"] * len(cm)
    if np.isfinite(accuracy).any():
        colors[int(np.nanargmin(accuracy))] = "tab:red"
    ax.bar(range(len(cm)), shown, color=colors)
    ax.axhline(overall, color="black", linewidth=1, linestyle="--", label=f"all classes {overall:.2f}%")
    ax.set_xticks(range(len(cm)), list(names), rotation=90 if max(map(len, names)) > 2 else 0)
    low = float(np.nanmin(accuracy)) if np.isfinite(accuracy).any() else 0.0
    ax.set_ylim(max(0.0, low - 5), 100.5)  # zoomed on the spread: 97% and 99.5% must look different
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy per class (the worst in red)")
    ax.legend(loc="lower right", fontsize=8)
    return fig
