"""Structured-config schema for our top-level keys, so a typo fails when the config is composed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

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


def register() -> None:
    """Store the schema in Hydra's ConfigStore; conf/config.yaml names it first in its defaults."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=Config)


register()
