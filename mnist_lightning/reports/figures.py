"""The figures the reference projects drew by hand, made with matplotlib's Agg backend (no display)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def confusion_figure(cm: np.ndarray) -> Figure:
    """Counts per (true, predicted) digit, the diagonal dark."""
    fig, ax = plt.subplots(figsize=(7, 6))
    shown = np.log1p(cm)  # a log scale keeps the few mistakes visible beside ~1,000 correct
    ax.imshow(shown, cmap="Blues")
    for (i, j), count in np.ndenumerate(cm):
        if count:
            color = "white" if shown[i, j] > shown.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(cm.shape[1]))
    ax.set_yticks(range(cm.shape[0]))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Confusion matrix (test, {cm.sum():,} images, {np.trace(cm) / cm.sum():.2%} correct)")
    fig.tight_layout()
    return fig


def curves_figure(history: dict[str, list[float]]) -> Figure:
    """Loss and accuracy per epoch, train beside validation."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, what in ((ax_loss, "loss"), (ax_acc, "acc")):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = history.get(f"{split}/{what}", [])
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=split, markersize=4)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss" if what == "loss" else "accuracy")
        ax.set_title("Loss" if what == "loss" else "Accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def digits_figure(
    images: np.ndarray, labels: Sequence[int], preds: Sequence[int], confs: Sequence[float], title: str
) -> Figure:
    """A grid of digits, each titled with its label, the prediction and its confidence."""
    n = len(images)
    cols = 8
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 1.75), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label, pred, conf in zip(axes.flat, images, labels, preds, confs, strict=False):
        ax.imshow(image, cmap="gray")
        ax.set_title(
            f"{label}→{pred} {conf:.0%}", fontsize=9, color="tab:green" if label == pred else "tab:red"
        )
    fig.suptitle(f"{title} (true→predicted, confidence)")
    fig.tight_layout()
    return fig


def feature_maps_figure(name: str, maps: np.ndarray, limit: int = 32) -> Figure:
    """Up to `limit` channels (C, H, W) of one layer's output for one image."""
    shown = maps[:limit]
    cols = 8
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, channel) in enumerate(zip(axes.flat, shown, strict=False)):
        ax.imshow(channel, cmap="viridis")
        ax.set_title(str(i), fontsize=7)
    fig.suptitle(f"Feature maps of {name} ({maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]})")
    fig.tight_layout()
    return fig


def probability_figure(pixels: np.ndarray, probs: Sequence[float], title: str) -> Figure:
    """One image as the model saw it (28x28) beside its ten class probabilities."""
    digit = int(np.argmax(probs))
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.2), gridspec_kw={"width_ratios": [1, 1.4]})
    left.imshow(pixels, cmap="gray", vmin=0, vmax=255)
    left.set_title("model input (28x28)")
    left.set_xlabel("x (pixels)")
    left.set_ylabel("y (pixels)")
    digits = list(range(len(probs)))
    right.barh(digits, probs, color=["tab:orange" if d == digit else "tab:blue" for d in digits])
    right.set(yticks=digits, xlim=(0, 1), xlabel="probability", ylabel="digit")
    right.invert_yaxis()
    right.set_title(f"predicted {digit} ({100 * probs[digit]:.1f}%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
