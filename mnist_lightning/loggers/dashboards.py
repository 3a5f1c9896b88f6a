"""TensorBoard's PR CURVES, IMAGES and PROJECTOR tabs, written from the tested images' outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mnist_lightning.data.digits import normalize

PR_TAG = "test/pr/{name}"  # one PR curve per class: that class against the rest
IMAGES_TAG = "test_images/{name}"  # one IMAGES card per class, its sample slider pages through them
PROJECTOR_TAG = "test_features"  # the PROJECTOR tab's embedding
METADATA_HEADER = ["label", "prediction", "correct"]  # columns to colour and search points by


def as_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, 3) -> float (N, C, H, W) in [0, 1], as TensorBoard takes images."""
    return normalize(torch.from_numpy(images), 0.0, 1.0)  # the training layout, without the shift and scale


def write_pr_curves(
    writer: Any, labels: np.ndarray, probs: np.ndarray, names: Sequence[str], step: int
) -> None:
    """A PR curve per class k: is-k (labels (N,)) against the probability of k (probs (N, K))."""
    for k, name in enumerate(names):
        writer.add_pr_curve(PR_TAG.format(name=name), labels == k, probs[:, k], global_step=step)


def write_class_images(
    writer: Any, images: np.ndarray, labels: np.ndarray, names: Sequence[str], per_class: int, step: int
) -> None:
    """Up to `per_class` tested images of each class, one IMAGES card per class."""
    for k, name in enumerate(names):
        picked = np.flatnonzero(labels == k)[:per_class]
        if len(picked):
            writer.add_images(IMAGES_TAG.format(name=name), as_nchw(images[picked]), step, dataformats="NCHW")


def sample(count: int, size: int) -> np.ndarray:
    """`size` of `count` indices, the same ones every time (seeded), in order; all of them if fewer."""
    if count <= size:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, size=size, replace=False))


def write_projector(
    writer: Any,
    features: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    preds: np.ndarray,
    names: Sequence[str],
    samples: int,
    step: int,
) -> None:
    """A sample of the features (N, D) with label, prediction and correctness per point, and a sprite."""
    picked = sample(len(features), samples)
    metadata = [[names[labels[i]], names[preds[i]], str(labels[i] == preds[i])] for i in picked]
    writer.add_embedding(
        torch.from_numpy(features[picked]),
        metadata=metadata,
        metadata_header=METADATA_HEADER,
        label_img=as_nchw(images[picked]),  # (n, C, H, W): torch draws them into sprite.png
        global_step=step,
        tag=PROJECTOR_TAG,
    )
