"""Hydra's basic sweeper, each job's folder named by the overrides that vary across the sweep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf

from mnist_lightning.run_dirs import subdir_override, sweep_job_names


@dataclass
class NamedSweeperConf(BasicSweeperConf):
    """hydra.sweeper.*: those of Hydra's basic sweeper (max_batch_size, params)."""

    _target_: str = "hydra_plugins.mnist_lightning_sweeper.named_sweeper.NamedSweeper"


class NamedSweeper(BasicSweeper):
    """Hydra's basic sweeper; job k's folder is `<k>_<the overrides that vary>`, e.g. `1_optimizer=adam`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names: list[str] | None = None  # every job's name, from the whole sweep's jobs
        self.launched = 0  # jobs handed to the launcher so far: the next job's number

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        """The next batch of jobs, each with its folder's name as one more (hydra.*) override."""
        batch = super().get_job_batch()
        if self.names is None:  # every job of the sweep is known (self.overrides) before the first batch
            self.names = sweep_job_names([job for jobs in self.overrides or [] for job in jobs])
        first, self.launched = self.launched, self.launched + len(batch)
        return [[*job, subdir_override(first + i, self.names[first + i])] for i, job in enumerate(batch)]
