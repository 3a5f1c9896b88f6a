"""The report's figures, drawn on matplotlib's Agg canvas (no display) and rendered once to pixels."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from mnist_lightning.reports.mosaic import grid_figure

DPI = 100
PNG_LEVEL = 1  # zlib level: 1.5x faster than the default 6, files about 20% larger


def render(fig: Figure) -> np.ndarray:
    """The figure drawn once: its pixels, RGB uint8 (H, W, 3)."""
    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()  # (H, W, 4) -> (H, W, 3): opaque white


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of RGB pixels (H, W, 3)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    return encode_png(render(fig))


def _names(names: Sequence[str] | None, count: int) -> list[str]:
    """The class names, or "0".."K-1" when none are given."""
    return list(names) if names is not None else [str(k) for k in range(count)]


def confusion_figure(cm: np.ndarray, names: Sequence[str] | None = None) -> Figure:
    """Counts per (true, predicted) class of the (K, K) matrix, classes named, the diagonal dark."""
    names = _names(names, len(cm))
    side = max(6.0, 0.22 * len(cm))  # 47 classes need room for their names
    fig = Figure(figsize=(side + 1, side))
    ax = fig.add_axes((0.1, 0.08, 0.88, 0.84))  # fixed: tight_layout would cost a second draw
    shown = np.log1p(cm)  # a log scale keeps the few mistakes visible beside ~1,000 correct
    ax.imshow(shown, cmap="Blues")
    size = 8 if len(cm) <= 20 else 5  # 47 classes' counts fit cells a third as wide
    for (i, j), count in np.ndenumerate(cm):
        if count:
            color = "white" if shown[i, j] > shown.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=size, color=color)
    ax.set_xticks(range(cm.shape[1]), names, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(cm.shape[0]), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix (test, {cm.sum():,} images, {np.trace(cm) / cm.sum():.2%} correct)")
    return fig


def curves_figure(history: dict[str, list[float]]) -> Figure:
    """Loss and accuracy per epoch, train beside validation."""
    fig = Figure(figsize=(11, 4))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.91, wspace=0.22)
    epochs = max(map(len, history.values()), default=1)
    for ax, what in zip(fig.subplots(1, 2), ("loss", "acc"), strict=True):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = history.get(f"{split}/{what}", [])
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=split, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, epochs + 0.5)  # whole epochs as ticks, even for a single epoch
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_ylabel("loss" if what == "loss" else "accuracy")
        ax.set_title("Loss" if what == "loss" else "Accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def digits_figure(
    images: np.ndarray,
    labels: Sequence[int],
    preds: Sequence[int],
    confs: Sequence[float],
    title: str,
    names: Sequence[str] | None = None,
) -> Figure:
    """A grid of images (N, H, W) or (N, H, W, 3), each captioned: true class, prediction, confidence."""
    named = _names(names, max([*labels, *preds], default=0) + 1)
    captions = [
        (f"{named[label]}→{named[pred]} {conf:.0%}", "tab:green" if label == pred else "tab:red")
        for label, pred, conf in zip(labels, preds, confs, strict=True)
    ]
    return grid_figure(images, captions, f"{title} (true→predicted, confidence)", "gray", 1.5, 9)


def feature_maps_figure(name: str, maps: np.ndarray, limit: int = 32) -> Figure:
    """Up to `limit` channels (C, H, W) of one layer's output for one image, each numbered."""
    shown = maps[:limit]
    captions = [(str(i), "black") for i in range(len(shown))]
    title = f"Feature maps of {name} ({maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]})"
    return grid_figure(shown, captions, title, "viridis", 1.2, 7)


def probability_figure(
    pixels: np.ndarray, probs: Sequence[float], title: str, names: Sequence[str] | None = None
) -> Figure:
    """One image as the model saw it, uint8 (H, W) or colour (H, W, 3), beside its class probabilities."""
    names = _names(names, len(probs))
    digit = int(np.argmax(probs))
    fig = Figure(figsize=(7, 3.2))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    gray = {"cmap": "gray", "vmin": 0, "vmax": 255} if pixels.ndim == 2 else {}  # RGB: drawn as is
    left.imshow(pixels, **gray)
    left.set_title(f"model input ({pixels.shape[1]}x{pixels.shape[0]})")
    left.set_xlabel("x (pixels)")
    left.set_ylabel("y (pixels)")
    digits = list(range(len(probs)))
    right.barh(digits, probs, color=["tab:orange" if d == digit else "tab:blue" for d in digits])
    right.set(xlim=(0, 1), xlabel="probability", ylabel="class")
    right.set_yticks(digits, names, fontsize=9 if len(names) <= 20 else 5)
    right.invert_yaxis()
    right.set_title(f"predicted {names[digit]} ({100 * probs[digit]:.1f}%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
