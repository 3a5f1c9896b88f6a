"""Our callbacks: a guard against divergence, the one writer of last.ckpt, and EMA weights that test right."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor
from tqdm.contrib.logging import logging_redirect_tqdm

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import Diverged
from mnist_lightning.termination import own_signals

log = logging.getLogger(__name__)


class DivergenceGuard(Callback):
    """Stops training at a NaN or infinite loss, before any checkpoint can save the broken weights.

    The loss is checked every step in one CPU process (free there) and every `every` steps on a GPU,
    where reading it costs a host sync, or under DDP, where the ranks decide together (a collective)
    so that all of them stop at the same step. LastCheckpoint checks before every save as well.
    """

    def __init__(self, every: int, last_good: Path) -> None:
        self.every, self.last_good = max(1, every), last_good
        self.bad: Tensor | None = None  # on the device: has any loss since the last check been non-finite?
        self.checked = 0  # the step of the last check that passed

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, *args: Any) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        broken = ~torch.isfinite(loss.detach())  # no sync: stays on the device
        self.bad = broken if self.bad is None else self.bad | broken
        free = loss.device.type == "cpu" and trainer.world_size == 1
        if free or trainer.global_step % self.every == 0:
            self.check(trainer)

    def check(self, trainer: L.Trainer, weights: bool = False) -> None:
        """Raise Diverged if a loss since the last check (or, with `weights`, a weight) is NaN or infinite.

        A finite loss can still take a step to infinite weights: before a save the weights are checked.
        """
        bad = bool(self.bad) if self.bad is not None else False
        if weights and not bad:
            bad = not all(bool(torch.isfinite(p).all()) for p in trainer.lightning_module.parameters())
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        self.bad = None
        if not bad:
            self.checked = trainer.global_step
            return
        step = trainer.global_step
        when = f"step {step}" if step - self.checked <= 1 else f"between steps {self.checked + 1} and {step}"
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        kept = (
            f"{self.last_good} holds the last good weights"
            if self.last_good.is_file()
            else "no checkpoint kept"
        )
        raise Diverged(
            f"training diverged at {when} (epoch {trainer.current_epoch}, lr {lr:.4g}): a loss or weight "
            f"became NaN or infinite; "
            f"{kept}; lower optimizer.lr, add scheduler.warmup, or clip gradients "
            "(trainer.gradient_clip_val=1.0) and start again"
        )


class LastCheckpoint(Callback):
    """Writes `last.ckpt` after every epoch and every `every` optimizer steps (0: epochs only).

    One writer for last.ckpt: ModelCheckpoint's own save_last would version a second copy
    (last-v1.ckpt) next to ours. The guard checks the loss first: a diverged run keeps its last
    good last.ckpt.
    """

    def __init__(self, path: Path, every: int, guard: DivergenceGuard) -> None:
        self.path, self.every, self.guard = path, every, guard

    def _save(self, trainer: L.Trainer) -> None:
        self.guard.check(trainer, weights=True)
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume from

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.every > 0 and trainer.global_step % self.every == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._save(trainer)


class EMA(EMAWeightAveraging):
    """Lightning's EMA of the weights; testing a checkpoint tests the averaged weights it holds.

    The parent restores the raw (non-averaged) weights whenever a checkpoint is loaded, which is
    right for resuming a fit but would make `trainer.test(ckpt_path=...)` test the raw weights.
    """

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: Any) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)


class OwnSignals(Callback):
    """SIGTERM and Ctrl-C stay ours (see `termination`) once Lightning has put in its own handler."""

    def on_sanity_check_start(self, *args: Any) -> None:
        own_signals()

    def on_train_start(self, *args: Any) -> None:
        own_signals()

    def on_test_start(self, *args: Any) -> None:
        own_signals()


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
