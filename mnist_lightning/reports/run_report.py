"""`write_run_report`: confusion matrix, per-class table, curves, predictions, mistakes, feature maps."""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from mnist_lightning import metrics as M
from mnist_lightning.data import DigitDataModule
from mnist_lightning.io import write_bytes_atomic
from mnist_lightning.module import Classifier
from mnist_lightning.quiet import plural, silenced
from mnist_lightning.reports import figures

log = logging.getLogger(__name__)
GRID = 32  # digits per predictions / mistakes grid
CURVES = (M.TRAIN_LOSS, M.VAL_LOSS, M.TRAIN_ACC, M.VAL_ACC)
TENSORBOARD_LOG = "tensorboard"  # tensorboard's own logger: its directory watcher logs every file it reads


def _tested(model: Classifier, datamodule: DigitDataModule) -> tuple[np.ndarray, ...]:
    """(images uint8 (N, H, W), labels, predictions, confidences) of the images this process tested.

    They are the test pass's own predictions, not a second pass: one process tests the split in
    order; DDP rank r tests images r, r + W, r + 2W, ... (W processes), padded by wrapping around.
    """
    pred = torch.cat([p for p, _ in model.test_predictions]).cpu()  # (N,)
    conf = torch.cat([c for _, c in model.test_predictions]).float().cpu()  # (N,)
    test = datamodule.splits["test"]
    rank, world = model.trainer.global_rank, model.trainer.world_size
    index = torch.arange(rank, rank + world * len(pred), world) % len(test)
    return test.images[index].cpu().numpy(), test.labels[index].cpu().numpy(), pred.numpy(), conf.numpy()


def _per_class(cm: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for digit in range(len(cm)):
        support, predicted, correct = cm[digit].sum(), cm[:, digit].sum(), cm[digit, digit]
        rows.append({
            "digit": digit, "support": int(support), "correct": int(correct),
            "accuracy": round(correct / support, 4) if support else "",
            "precision": round(correct / predicted, 4) if predicted else "",
            "recall": round(correct / support, 4) if support else "",
        })  # fmt: skip
    return rows


def _history(run_dir: Path) -> dict[str, list[float]]:
    """Per-epoch values of the run's own logged curves, read back from its TensorBoard files."""
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    with silenced(TENSORBOARD_LOG):  # "Directory watcher advancing ...": our own files, nothing to tell
        events.Reload()
    tags = set(events.Tags().get("scalars", []))
    return {tag: [e.value for e in events.Scalars(tag)] for tag in CURVES if tag in tags}


@torch.no_grad()
def _feature_maps(net: nn.Module, image: torch.Tensor) -> list[tuple[str, np.ndarray]]:
    """Every conv layer's output for one normalised image (1, C, H, W)."""
    maps: list[tuple[str, np.ndarray]] = []
    hooks = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: maps.append((name, out[0].float().cpu().numpy()))
        )
        for name, module in net.named_modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        net(image)
    finally:
        for hook in hooks:
            hook.remove()
    return maps


def write_run_report(
    model: Classifier, datamodule: DigitDataModule, run_dir: Path, logger: TensorBoardLogger | None = None
) -> Path:
    """Write every report file for a tested model into `run_dir/report/` (and figures to TensorBoard).

    The confusion matrix and per_class.csv are the test pass's own counts over every process, so
    they agree with metrics.json exactly; the image grids show the images this process tested.
    """
    start = time.perf_counter()
    out = run_dir / "report"
    was_training = model.training
    model.eval()
    assert model.tested_confusion is not None, "write_run_report needs a model that trainer.test() has tested"
    cm = model.tested_confusion.numpy()  # (K, K): true x predicted
    images, labels, preds, confs = _tested(model, datamodule)
    table = io.StringIO()
    writer = csv.DictWriter(
        table, fieldnames=["digit", "support", "correct", "accuracy", "precision", "recall"]
    )
    writer.writeheader()
    writer.writerows(_per_class(cm))
    write_bytes_atomic(out / "per_class.csv", table.getvalue().encode())

    all_wrong = np.flatnonzero(preds != labels)
    wrong = all_wrong[np.argsort(-confs[all_wrong])][:GRID]  # the most confident mistakes first
    made = {
        "confusion_matrix": figures.confusion_figure(cm),
        "predictions": figures.digits_figure(images[:GRID], labels[:GRID], preds[:GRID], confs[:GRID],
                                             "Sample test predictions"),
        "mistakes": figures.digits_figure(images[wrong], labels[wrong], preds[wrong], confs[wrong],
                                          f"Most confident mistakes ({len(all_wrong)} in all)"),
    }  # fmt: skip
    history = _history(run_dir) if (run_dir / "tensorboard").is_dir() else {}
    if history:
        made["curves"] = figures.curves_figure(history)
    first = model.facts.normalize(datamodule.splits["test"].images[:1].to(model.device)).to(model.dtype)
    for i, (name, maps) in enumerate(_feature_maps(model.net, first)):
        if maps.ndim == 3:
            made[f"feature_maps_{i + 1}_{name.replace('.', '_')}"] = figures.feature_maps_figure(name, maps)
    for name, fig in made.items():
        if logger is not None and not name.startswith("feature_maps"):
            logger.experiment.add_figure(f"report/{name}", fig, close=False)
        write_bytes_atomic(out / f"{name}.png", figures.png_bytes(fig))
    if logger is not None:
        logger.experiment.flush()
    model.train(was_training)
    log.info("Wrote %s in %.1f s", plural(len(made) + 1, "report file"), time.perf_counter() - start)
    return out
