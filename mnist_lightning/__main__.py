"""`python -m mnist_lightning`: the Hydra entry point for training, single runs and multiruns."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mnist_lightning import config as _config  # noqa: F401  (registers the schema)
from mnist_lightning import metrics as M
from mnist_lightning.cli import precheck
from mnist_lightning.errors import exit_on_user_error
from mnist_lightning.sweeps.launch import share_machine
from mnist_lightning.sweeps.report import record_failure
from mnist_lightning.train import train

log = logging.getLogger("mnist_lightning")

WORST = 0.0  # what a failed sweep job reports to the sweeper: the worst possible accuracy


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def _main(cfg: DictConfig) -> float:
    """Train with the composed config; returns best val accuracy, the value sweeps optimise."""
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return exit_on_user_error(lambda: train(cfg))[M.VAL_ACC_BEST] or WORST
    hydra_cfg = HydraConfig.get()
    share_machine(cfg, hydra_cfg.launcher, hydra_cfg.job.num)
    try:
        results = train(cfg)
    except Exception as err:  # one failed job is recorded and reported; the sweep goes on
        line = record_failure(Path(cfg.run_dir), err)
        log.error("Job failed: %s", line)
        return WORST
    if not math.isfinite(results.get(M.TEST_LOSS, 0.0)):  # diverged: NaN weights give NaN loss
        log.error("Job diverged: test loss is %s", results[M.TEST_LOSS])
        return WORST
    return results[M.VAL_ACC_BEST] or WORST  # null when the job ran no validation


def main() -> None:
    """Check the command line's overrides, then run the Hydra app."""
    precheck("config")
    _main()


if __name__ == "__main__":
    main()
