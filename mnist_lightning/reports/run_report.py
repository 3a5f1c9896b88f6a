"""`write_run_report`: per_class.csv, and the figures asked for (confusion matrix, curves, grids, maps)."""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.loggers import Logger
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from mnist_lightning import metric_keys as M
from mnist_lightning.data import DigitDataModule
from mnist_lightning.io import write_bytes_atomic
from mnist_lightning.loggers.images import send_image
from mnist_lightning.module import Classifier
from mnist_lightning.quiet import plural, silenced
from mnist_lightning.reports import figures

log = logging.getLogger(__name__)
GRID = 32  # digits per predictions / mistakes grid
# What report_figures may name (checks.py refuses any other); feature_maps: one figure per conv layer.
# per_class_accuracy: drawn by reports/dashboards.py
FIGURES = ("confusion_matrix", "per_class_accuracy", "curves", "predictions", "mistakes", "feature_maps")
CURVES = (M.TRAIN_LOSS, M.VAL_LOSS, M.TRAIN_ACC, M.VAL_ACC)
TENSORBOARD_LOG = "tensorboard"  # tensorboard's own logger: its directory watcher logs every file it reads


def tested_split(model: Classifier, datamodule: DigitDataModule) -> tuple[np.ndarray, ...]:
    """(images uint8 (N, H, W) or (N, H, W, 3), labels, predictions, confidences) this process tested.

    They are the test pass's own predictions, not a second pass: one process tests the split in
    order; DDP rank r tests images r, r + W, r + 2W, ... (W processes), padded by wrapping around.
    """
    pred = torch.cat([p for p, _ in model.test_predictions]).cpu()  # (N,)
    conf = torch.cat([c for _, c in model.test_predictions]).float().cpu()  # (N,)
    test = datamodule.splits["test"]
    rank, world = model.trainer.global_rank, model.trainer.world_size
    index = torch.arange(rank, rank + world * len(pred), world) % len(test)
    return test.images[index].cpu().numpy(), test.labels[index].cpu().numpy(), pred.numpy(), conf.numpy()


def _per_class_csv(cm: np.ndarray, names: Sequence[str]) -> bytes:
    """per_class.csv of the (K, K) true x predicted counts: class, name, support, correct, accuracy, ..."""
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["class", "name", "support", "correct", "accuracy", "precision", "recall"])
    for digit in range(len(cm)):
        support, predicted, correct = cm[digit].sum(), cm[:, digit].sum(), cm[digit, digit]
        recall = round(correct / support, 4) if support else ""  # accuracy within a class is its recall
        precision = round(correct / predicted, 4) if predicted else ""
        writer.writerow([digit, names[digit], int(support), int(correct), recall, precision, recall])
    return table.getvalue().encode()


def _history(run_dir: Path) -> dict[str, list[float]]:
    """Per-epoch values of the run's own logged curves, read back from its TensorBoard files."""
    if not (run_dir / "tensorboard").is_dir():
        return {}
    # Read back rather than kept in memory: a resumed run's earlier epochs are only in these files.
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


def _draw(
    asked: set[str], cm: np.ndarray, model: Classifier, datamodule: DigitDataModule, run_dir: Path
) -> Iterator[tuple[str, Figure]]:
    """(file name, figure) for each figure asked for, one at a time; `cm` (K, K) is true x predicted."""
    if "confusion_matrix" in asked:
        yield "confusion_matrix", figures.confusion_figure(cm, model.facts.class_names)
    if "curves" in asked and (history := _history(run_dir)):
        yield "curves", figures.curves_figure(history)
    if asked & {"predictions", "mistakes"}:
        images, labels, preds, confs = tested_split(model, datamodule)  # (N, H, W[, 3]), (N,), (N,), (N,)
        all_wrong = np.flatnonzero(preds != labels)
        wrong = all_wrong[np.argsort(-confs[all_wrong])][:GRID]  # the most confident mistakes first
        grids = {
            "predictions": (slice(GRID), "Sample test predictions"),
            "mistakes": (wrong, f"Most confident mistakes ({len(all_wrong)} in all)"),
        }
        for name, (pick, title) in grids.items():
            if name in asked:
                grid = (images[pick], labels[pick], preds[pick], confs[pick])
                yield name, figures.digits_figure(*grid, title, model.facts.class_names)
    if "feature_maps" in asked:
        first = model.facts.normalize(datamodule.splits["test"].images[:1].to(model.device)).to(model.dtype)
        for i, (layer, maps) in enumerate(_feature_maps(model.net, first)):
            if maps.ndim == 3:  # (C, H, W): a conv layer's channels
                name = f"feature_maps_{i + 1}_{layer.replace('.', '_')}"
                yield name, figures.feature_maps_figure(layer, maps)


def write_run_report(
    model: Classifier,
    datamodule: DigitDataModule,
    run_dir: Path,
    loggers: Collection[Logger] = (),
    names: Collection[str] | None = None,
) -> Path:
    """Write per_class.csv and the figures asked for into `run_dir/report/` (and to the loggers).

    `names` (from FIGURES) defaults to the run's own report_figures, saved with the model; unset: all.
    The confusion matrix and per_class.csv are the test pass's own counts over every process, so
    they agree with metrics.json exactly; the image grids show the images this process tested.
    Each figure is drawn once: the same pixels go to its PNG and to TensorBoard (or MLflow, W&B).
    """
    start = time.perf_counter()
    assert model.tested_confusion is not None, "write_run_report needs a model that trainer.test() has tested"
    cm = model.tested_confusion.numpy()  # (K, K): true x predicted
    out = run_dir / "report"
    write_bytes_atomic(out / "per_class.csv", _per_class_csv(cm, model.facts.class_names))
    names = model.hparams.get("report_figures") if names is None else names
    was_training = model.training
    model.eval()
    written = 1
    for name, fig in _draw(set(FIGURES if names is None else names), cm, model, datamodule, run_dir):
        pixels = figures.render(fig)  # (H, W, 3) uint8
        write_bytes_atomic(out / f"{name}.png", figures.encode_png(pixels))
        if not name.startswith("feature_maps"):
            send_image(list(loggers), f"report/{name}", pixels)
        written += 1
    for logger in loggers:
        logger.save()
    model.train(was_training)
    log.info("Wrote %s in %.1f s", plural(written, "report file"), time.perf_counter() - start)
    return out
