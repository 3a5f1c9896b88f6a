"""Lightning's TensorBoardLogger laid out for reading: curves that compare, and no single-point cards."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from mnist_lightning import metric_keys as M
from mnist_lightning.loggers import dashboards

EPOCH = "epoch"  # Lightning adds it to every logged step: a staircase card that tells nothing
# Facts about the whole run, not curves: columns of the HPARAMS tab rather than one-point scalar cards.
RUN_FACTS = (M.FIT_SECONDS, M.EPOCHS)
CATEGORY = "curves"  # the CUSTOM SCALARS tab's one section, open when the tab opens
# chart title -> the tags it draws together, so that train and val meet on one chart (and every run of a
# sweep lines up the same way: each run writes the same layout).
CHARTS = {
    "loss (train per step and per epoch, val)": (M.TRAIN_LOSS_STEP, M.TRAIN_LOSS, M.VAL_LOSS),
    "accuracy (train, val)": (M.TRAIN_ACC, M.VAL_ACC),
    "learning rate": (M.LR,),
}


def layout() -> dict[str, dict[str, list[Any]]]:
    """The custom-scalars layout: {category: {chart: ["Multiline", [tag regexes]]}}, each tag exact."""
    charts = {title: ["Multiline", [f"^{re.escape(tag)}$" for tag in tags]] for title, tags in CHARTS.items()}
    return {CATEGORY: charts}


class TensorBoardLogger(LightningTensorBoardLogger):
    """TensorBoard with a CUSTOM SCALARS layout, tags grouped as train/, val/, test/ and lr, and no clutter.

    Lightning's `epoch` is not written, and the run's fit time and epoch count go to the HPARAMS tab's
    columns: as scalars each would be a card with a single point, drawing no line.
    """

    def __init__(
        self, *args: Any, projector_samples: int = 2000, class_images: int = 16, **kwargs: Any
    ) -> None:
        for key, value in (("projector_samples", projector_samples), ("class_images", class_images)):
            if int(value) < 0:
                raise ValueError(f"{key}={value}: use 0 (none) or a number of test images")
        super().__init__(*args, **kwargs)
        self.projector_samples = int(projector_samples)  # test images in the PROJECTOR tab; 0: no projector
        self.class_images = int(class_images)  # test images per class in the IMAGES tab; 0: none
        self.laid_out = False  # the layout is written with the first metrics, once per process

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Lightning's, without `epoch`; the first call also writes the custom-scalars layout."""
        if not self.laid_out:
            self.experiment.add_custom_scalars(layout())
            self.laid_out = True
        kept = {key: value for key, value in metrics.items() if key != EPOCH}
        if kept:
            super().log_metrics(kept, step)

    @rank_zero_only
    def log_hyperparams(
        self, params: Any, metrics: dict[str, Any] | None = None, step: int | None = None
    ) -> None:
        """Lightning's, with the run's facts (fit seconds, epochs run) moved from `metrics` to `params`."""
        if metrics:
            facts = {key: metrics[key] for key in RUN_FACTS if key in metrics}
            params = {**dict(params), **facts}
            metrics = {key: value for key, value in metrics.items() if key not in facts}
            if not metrics:  # Lightning writes no HPARAMS session without a metric: write it ourselves
                from torch.utils.tensorboard.summary import hparams

                self.hparams.update(params)
                for summary in hparams(params, {}):  # experiment, session start, session end
                    self.experiment._get_file_writer().add_summary(summary, step)
                return
        super().log_hyperparams(params, metrics=metrics, step=step)

    @rank_zero_only
    def log_tested(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        probs: np.ndarray,
        features: np.ndarray | None,
        names: Sequence[str],
        step: int,
    ) -> None:
        """PR curves per class, test images per class and the projector, from the N tested images.

        images uint8 (N, H, W) or (N, H, W, 3), labels (N,), probs (N, K), features (N, D) or None.
        """
        dashboards.write_pr_curves(self.experiment, labels, probs, names, step)
        if self.class_images:
            dashboards.write_class_images(self.experiment, images, labels, names, self.class_images, step)
        if self.projector_samples and features is not None:
            preds = probs.argmax(axis=1)  # (N,): as the test step picks its class
            dashboards.write_projector(
                self.experiment, features, images, labels, preds, names, self.projector_samples, step
            )
        self.experiment.flush()
