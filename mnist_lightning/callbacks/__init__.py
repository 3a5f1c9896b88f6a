"""Our callbacks, one per file; conf/callbacks/ selects them (and Lightning's) by `_target_`."""

from mnist_lightning.callbacks.best_checkpoint import BestCheckpoint
from mnist_lightning.callbacks.divergence import DivergenceGuard
from mnist_lightning.callbacks.ema import EMA
from mnist_lightning.callbacks.epoch_line import EpochLine
from mnist_lightning.callbacks.last_checkpoint import LastCheckpoint
from mnist_lightning.callbacks.progress import ProgressBar, RichProgressBar
from mnist_lightning.callbacks.pruning import TrialPruning
from mnist_lightning.callbacks.signals import OwnSignals
from mnist_lightning.callbacks.step_loss import StepLoss

__all__ = [
    "EMA",
    "BestCheckpoint",
    "DivergenceGuard",
    "EpochLine",
    "LastCheckpoint",
    "OwnSignals",
    "ProgressBar",
    "RichProgressBar",
    "StepLoss",
    "TrialPruning",
]
