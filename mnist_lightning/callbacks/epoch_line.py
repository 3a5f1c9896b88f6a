"""One log line per epoch: losses, accuracies, learning rate and seconds, on every kind of output."""

from __future__ import annotations

import logging
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from tqdm.contrib.logging import logging_redirect_tqdm

from mnist_lightning import metric_keys as M

log = logging.getLogger(__name__)

EPOCH_KEYS = (M.TRAIN_LOSS, M.TRAIN_ACC, M.VAL_LOSS, M.VAL_ACC, M.LR)  # what EpochLine reads


class EpochLine(Callback):
    """One log line per epoch on rank 0: train and val loss and accuracy, learning rate, seconds.

    The module logs an epoch's train metrics in its own on_train_epoch_end, which Lightning calls
    after this callback's; so the line is written at the next hook (the next epoch's start, or the
    end of training) from the values already in trainer.callback_metrics: no collective, and one
    read off the device per epoch.
    """

    def __init__(self) -> None:
        self.start = 0.0
        self.validated = False  # did this epoch run validation (not the sanity check)?
        self.ended: tuple[int, float, bool] | None = None  # (epoch, seconds, validated), not yet written

    def on_train_start(self, trainer: L.Trainer, *args: Any) -> None:
        # A run resumed in the middle of an epoch gets no on_train_epoch_start for that epoch.
        self.start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self._write(trainer)
        self.start, self.validated = time.perf_counter(), False

    def on_validation_epoch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.validated = self.validated or not trainer.sanity_checking

    def on_train_epoch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.ended = (trainer.current_epoch, time.perf_counter() - self.start, self.validated)

    def on_train_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._write(trainer)

    def _write(self, trainer: L.Trainer) -> None:
        if self.ended is None:
            return
        (epoch, seconds, validated), self.ended = self.ended, None
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        logged = {key: float(metrics[key]) for key in EPOCH_KEYS if key in metrics}
        of = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        parts = [f"Epoch {epoch + 1}{of}: {_split(logged, 'train', M.TRAIN_LOSS, M.TRAIN_ACC)}"]
        parts.append(_split(logged, "val", M.VAL_LOSS, M.VAL_ACC) if validated else "no validation")
        if M.LR in logged:
            parts.append(f"lr {logged[M.LR]:.3g}")
        parts.append(f"{seconds:.1f} s")
        with logging_redirect_tqdm():  # the console line goes above the progress bar, not into it
            log.info(" | ".join(parts))


def _split(logged: dict[str, float], name: str, loss: str, acc: str) -> str:
    """`train loss 0.1234, acc 96.50%`: what was logged of one split's loss and accuracy."""
    said = [f"loss {logged[loss]:.4f}"] if loss in logged else []
    said += [f"acc {100 * logged[acc]:.2f}%"] if acc in logged else []
    return f"{name} {', '.join(said) or 'nothing logged'}"
