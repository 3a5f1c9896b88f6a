"""The run's loggers, chosen in conf/logger/: what they all get when a run ends, and how to open each."""

from mnist_lightning.loggers.run_summary import flat_hparams, log_run
from mnist_lightning.loggers.where import open_lines

__all__ = ["flat_hparams", "log_run", "open_lines"]
