"""`python -m mnist_lightning`: the Hydra entry point for training, single runs and multiruns."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning import resolvers as _resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning import warm
from mnist_lightning.cli import hydra_app, start
from mnist_lightning.errors import Diverged, exit_on_user_error
from mnist_lightning.sweeps.jobs import record_failure
from mnist_lightning.sweeps.launch import share_machine
from mnist_lightning.termination import Terminated, freeze_imports
from mnist_lightning.timeline import mark

log = logging.getLogger("mnist_lightning")

# What a failed or diverged sweep job, or one that ran no validation, returns to the sweeper: not a
# number, so that the sweeper itself gives it the worst value for its direction (max or min).
NO_VALUE = float("nan")


@hydra_app("config")
def _main(cfg: DictConfig) -> float:
    """Train with the composed config; returns best val accuracy, the value sweeps optimise."""
    mark("composed")
    # Imported only now, after the config is composed and checked: the 4 s of torch and Lightning
    # never delay `--help` or the one-line error of a mistyped override.
    from mnist_lightning.train import train

    freeze_imports()
    mark("imported")
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return _objective(exit_on_user_error(lambda: train(cfg)))
    hydra_cfg = HydraConfig.get()
    share_machine(cfg, hydra_cfg.launcher, hydra_cfg.job.num)
    try:
        results = train(cfg)
    except Diverged as err:  # its metrics.json says so (status: diverged); not a failure of the sweep
        log.error("Job diverged: %s", err)
        return NO_VALUE
    except Exception as err:  # one failed job is recorded and reported; the sweep goes on
        line = record_failure(Path(cfg.run_dir), err)
        log.error("Job failed: %s", line)
        return NO_VALUE
    return _objective(results)


def _objective(results: dict) -> float:
    """The value a sweep optimises: best val accuracy; NaN when the job ran no validation."""
    value = results.get(M.VAL_ACC_BEST)
    return float(value) if value is not None and math.isfinite(value) else NO_VALUE


def main() -> None:
    """Check the command line's overrides, then run the Hydra app; a signal ends it with 128 + its number."""
    warm.hand_over(main)  # to a warm process, when one is ready; it exits as the command did
    mark("main")
    start("config")
    try:
        _main()
    except Terminated as stop:
        print(f"error: {stop}; the last checkpoint is kept: continue with resume=<run dir>", file=sys.stderr)
        sys.exit(128 + stop.signum)


if __name__ == "__main__":
    main()
