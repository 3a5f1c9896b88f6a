"""Dashboards from the test pass: the per-class accuracy chart; TensorBoard's view of the tested images."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.loggers import Logger
from torch import Tensor, nn

from mnist_lightning.data import DigitDataModule
from mnist_lightning.io import write_bytes_atomic
from mnist_lightning.loggers.images import send_image
from mnist_lightning.loggers.tensorboard import TensorBoardLogger
from mnist_lightning.module import Classifier
from mnist_lightning.reports import figures
from mnist_lightning.reports.per_class_figure import per_class_figure
from mnist_lightning.reports.run_report import tested_split  # the images this process tested, in order

BATCH = 1000  # images per forward pass
CHART = "per_class_accuracy"  # the figure's name in report_figures, report/ and the loggers


@dataclass
class Tested:
    """What the dashboards draw of the images this process tested (N of them)."""

    images: np.ndarray  # uint8 (N, H, W) or (N, H, W, 3)
    labels: np.ndarray  # (N,) int
    probs: np.ndarray  # (N, K) float32
    features: np.ndarray | None  # (N, D): the last linear layer's input; None if the net has none


def _last_linear(net: nn.Module) -> nn.Linear | None:
    """The network's last nn.Linear: its input is the penultimate layer's features."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


@torch.no_grad()
def tested_outputs(model: Classifier, datamodule: DigitDataModule) -> Tested:
    """Probabilities and features of the tested images, with the tested weights (model in eval mode)."""
    images, labels, _, _ = tested_split(model, datamodule)  # the test pass's own images, in its order
    seen: list[Tensor] = []
    last = _last_linear(model.net)

    def keep(_module: nn.Module, inputs: tuple[Tensor, ...], _out: Tensor) -> None:
        seen.append(inputs[0].flatten(1).float().cpu())  # (B, D): the last linear layer's input

    hook = last.register_forward_hook(keep) if last is not None else None
    was_training = model.training
    model.eval()
    probs = []
    try:
        for start in range(0, len(images), BATCH):
            x = torch.from_numpy(images[start : start + BATCH]).to(model.device)
            probs.append(model.probs(model.facts.normalize(x).to(model.dtype)).float().cpu())  # (B, K)
    finally:
        if hook is not None:
            hook.remove()
        model.train(was_training)
    features = torch.cat(seen).numpy() if seen else None  # (N, D)
    return Tested(images, labels, torch.cat(probs).numpy(), features)


def write_dashboards(
    model: Classifier, datamodule: DigitDataModule, run_dir: Path, loggers: Collection[Logger]
) -> None:
    """report/per_class_accuracy.png (and to the loggers), then PR curves, class images and the projector."""
    assert model.tested_confusion is not None, "write_dashboards needs a model that trainer.test() has tested"
    names = model.facts.class_names
    asked = model.hparams.get("report_figures")  # null: every figure
    if asked is None or CHART in asked:
        pixels = figures.render(per_class_figure(model.tested_confusion.numpy(), names))  # (H, W, 3)
        write_bytes_atomic(run_dir / "report" / f"{CHART}.png", figures.encode_png(pixels))
        send_image(list(loggers), f"report/{CHART}", pixels)  # beside report/confusion_matrix
    boards = [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
    if boards and model.test_predictions:
        tested = tested_outputs(model, datamodule)
        for board in boards:
            board.log_tested(**vars(tested), names=names, step=model.global_step)
