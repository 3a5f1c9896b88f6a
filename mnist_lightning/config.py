"""Structured-config schema for our top-level keys, so a typo fails when the config is composed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

SCHEMA_NAME = "config_schema"


@dataclass
class Config:
    """The composed training config: groups are free-form nodes, scalars are typed."""

    data: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = None
    trainer: Any = MISSING
    task_name: str = "train"
    seed: int = 0
    run_dir: str = "${hydra:runtime.output_dir}"
    ckpt_path: str | None = None  # resume fit from this Lightning checkpoint
    test: bool = True  # test the best checkpoint after fit
    channels_last: bool = False  # NHWC memory format for the network and its inputs (convnets)
    compile: bool = False  # torch.compile the network
    threads: int | None = None  # torch intra-op threads; null keeps torch's default
    progress_refresh: int = 10  # progress-bar refresh, in steps: each refresh reads the loss off the device
    last_checkpoint_every: int = (
        200  # also write checkpoints/last.ckpt every N optimizer steps (0: epochs only)
    )
    resume: str | None = None  # a run directory to continue from its last checkpoint, with its own config


def _pick(value: Any, if_set: Any, otherwise: Any) -> Any:
    return otherwise if value in (None, "") else if_set


def register() -> None:
    """Store the schema in Hydra's ConfigStore and add the `ml.pick` resolver that conf/ uses."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=Config)
    # ${ml.pick:${x},a,b} is a when x is set, else b: a resumed run writes into its own directory.
    OmegaConf.register_new_resolver("ml.pick", _pick, replace=True)


register()
