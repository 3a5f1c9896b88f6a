"""`python -m mnist_lightning`: the Hydra entry point for training."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mnist_lightning import config as _config  # noqa: F401  (registers the schema)
from mnist_lightning import metrics as M
from mnist_lightning.cli import precheck
from mnist_lightning.errors import exit_on_user_error
from mnist_lightning.train import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def _main(cfg: DictConfig) -> float:
    """Train with the composed config; returns best val accuracy, the value sweeps optimise."""
    metrics = exit_on_user_error(lambda: train(cfg))
    return metrics[M.VAL_ACC_BEST]


def main() -> None:
    """Check the command line's overrides, then run the Hydra app."""
    precheck("config")
    _main()


if __name__ == "__main__":
    main()
