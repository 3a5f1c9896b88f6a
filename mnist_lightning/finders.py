"""Lightning's batch-size and LR finders on our model and data, each on a plain Trainer of its own."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.tuner import Tuner, lr_finder
from lightning.pytorch.tuner.lr_finder import _LRFinder
from omegaconf import DictConfig

from mnist_lightning.building import build
from mnist_lightning.data import DigitDataModule
from mnist_lightning.errors import ConfigError
from mnist_lightning.module import Classifier
from mnist_lightning.quiet import LIGHTNING_INFO, silenced
from mnist_lightning.schema import SKIP_BEGIN, SKIP_END

# The finders save the model to these files in the trainer's default_root_dir and restore it from them.
LEFTOVERS = (".lr_find_*.ckpt", ".scale_batch_size_*.ckpt")
FIRST_BATCH = 2  # the batch-size search starts here and doubles
BETA = 0.98  # the smoothing of the finder's losses (lr_finder._LRCallback's default, which it uses)
# It says so at each restore, and that it loads them with weights_only=False (they are the finder's own).
RESTORE_LOGGER = "lightning.pytorch.trainer.connectors.checkpoint_connector"


class _DropRestores(logging.Filter):
    """Drops Lightning's "Restoring states from ..." lines about the finders' temporary checkpoints."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(pattern.split("*")[0] in str(record.msg) for pattern in LEFTOVERS)


@contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    """`owner.name` is `value` inside the block, and what it was after."""
    kept = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, kept)


def plain_trainer(cfg: DictConfig, run_dir: Path, steps: int) -> L.Trainer:
    """cfg.trainer with no logger, checkpoints or callbacks; the finders' temporary files go to run_dir."""
    return build(
        "trainer",
        cfg.trainer,
        logger=False,
        enable_checkpointing=False,
        callbacks=[],
        default_root_dir=str(run_dir),
        # As many epochs as the steps take: a small data set (or limit_train_batches) may not fill them.
        max_epochs=-1,
        max_steps=steps,
        num_sanity_val_steps=0,
        enable_model_summary=False,
    )


@contextmanager
def no_leftovers(run_dir: Path) -> Iterator[None]:
    """Quiet about the finders' temporary checkpoints, and remove them, also after a failure or a signal."""
    drop = _DropRestores()
    logging.getLogger(LIGHTNING_INFO).addFilter(drop)
    try:
        with silenced(RESTORE_LOGGER):
            yield
    finally:
        logging.getLogger(LIGHTNING_INFO).removeFilter(drop)
        for pattern in LEFTOVERS:
            for path in run_dir.glob(pattern):
                path.unlink(missing_ok=True)


def find_batch_size(cfg: DictConfig, model: Classifier, datamodule: DigitDataModule, run_dir: Path) -> int:
    """The largest training batch that fits (datamodule.batch_size is set to it), up to the split's size."""
    tune = cfg.tune
    # Our batches carry no `dataset` that Lightning could measure: beyond the split, a batch is the split.
    largest = min(tune.max_batch_size, len(datamodule.splits["train"]))
    trainer = plain_trainer(cfg, run_dir, tune.steps_per_trial)
    # Lightning builds the first trial's batches before it sets the first size: set it here already,
    # or the first trial would run at data.batch_size while counting as FIRST_BATCH.
    datamodule.batch_size = FIRST_BATCH
    found = Tuner(trainer).scale_batch_size(
        model,
        datamodule=datamodule,
        mode=tune.batch_size_mode,
        steps_per_trial=tune.steps_per_trial,
        init_val=FIRST_BATCH,
        max_val=largest,
    )
    assert found is not None  # None only under fast_dev_run, which tune refuses at start
    return int(found)


def find_lr(cfg: DictConfig, model: Classifier, datamodule: DigitDataModule, run_dir: Path) -> _LRFinder:
    """Lightning's LR range test: the model's weights are restored afterwards, its config is untouched."""
    tune = cfg.tune
    trainer = plain_trainer(cfg, run_dir, tune.num_training)
    # The finder draws its own tqdm bar, always: tqdm's disable=None keeps it to a terminal, as our
    # bars are (in a log file it would be one endless line).
    with patched(lr_finder, "tqdm", functools.partial(lr_finder.tqdm, disable=None)):
        finder = Tuner(trainer).lr_find(
            model,
            datamodule=datamodule,
            min_lr=tune.min_lr,
            max_lr=tune.max_lr,
            num_training=tune.num_training,
            mode=tune.mode,
            early_stop_threshold=tune.early_stop_threshold,
            update_attr=False,  # our LR lives in cfg.optimizer.lr; the suggestion is printed as that override
        )
    assert finder is not None  # as above
    return finder


def unbiased(losses: Sequence[float]) -> list[float]:
    """The finder's smoothed losses with the bias correction that Lightning takes one step too far.

    It divides step k's moving average by 1 - beta**(k+1), not 1 - beta**k: the first loss shows at
    half its value, and the curve seems to rise over its first ~25 steps while the loss is flat.
    """
    return [loss * (1 - BETA ** (k + 1)) / (1 - BETA**k) for k, loss in enumerate(losses, start=1)]


def suggestion(lrs: Sequence[float], losses: Sequence[float], num_training: int, mode: str) -> float:
    """The LR where the loss falls fastest; too few points is one line that names the fix.

    As Lightning's suggestion(), but on an exponential sweep the slope is taken per decade of LR:
    Lightning's per unit of LR picks the smallest LRs (1.4e-4 for the default convnet on MNIST,
    against 1.7e-3 per decade; it trains well at 3e-3).
    """
    kept = slice(SKIP_BEGIN, -SKIP_END)  # float64: the LR returned is exactly one of `lrs`
    lr, loss = (torch.tensor(values[kept], dtype=torch.float64) for values in (lrs, losses))
    finite = torch.isfinite(loss)
    usable = int(finite.sum())
    if usable >= 2:
        lr, loss = lr[finite], loss[finite]
        slope = torch.gradient(loss, spacing=[lr.log() if mode == "exponential" else lr])[0]
        return float(lr[slope.argmin()])
    if len(losses) < num_training:
        at = f" at lr={lrs[-1]:.2g}" if lrs else ""
        how = f"the loss diverged{at} after {len(losses)} of {num_training} steps"
        fix = "lower tune.max_lr (or tune.min_lr), or raise tune.num_training for finer steps"
    else:
        how = f"only {usable} of its {len(losses)} losses after the first {SKIP_BEGIN} are finite"
        fix = "lower tune.min_lr and tune.max_lr, or raise tune.num_training"
    raise ConfigError(f"tune: too few points to suggest an LR ({how}); {fix}")
