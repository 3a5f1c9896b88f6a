"""Shared benchmark helpers: composing our config, running `train`, timing, JSON lines and tables."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import mnist_lightning.resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning.conf_dir import CONF_DIR  # the configs every entry point composes
from mnist_lightning.train import train

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def data_root() -> str:
    """The MNIST folder, from MNIST_DATA_DIR (benchmarks never download)."""
    root = os.environ.get("MNIST_DATA_DIR")
    if not root:
        raise SystemExit("set MNIST_DATA_DIR to the folder holding the four MNIST .gz files")
    return root


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    return {
        "machine": f"{os.cpu_count()} cores, {device}",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def add_accelerator(parser: argparse.ArgumentParser) -> None:
    """`--accelerator cpu|gpu`: where both our Trainer and the plain loop run."""
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu")


def accelerator_overrides(accelerator: str) -> list[str]:
    """The Hydra override that puts our Trainer on `accelerator`."""
    return [f"trainer.accelerator={accelerator}"]


def compose_cfg(overrides: Sequence[str], run_dir: str) -> DictConfig:
    """Our real config, as `python -m mnist_lightning` would compose it, writing into `run_dir`."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            "config",
            overrides=[f"run_dir={run_dir}", "data=idx", f"data.root={data_root()}", *QUIET, *overrides],
        )


def run_framework(overrides: Sequence[str]) -> dict[str, Any]:
    """Train through our Trainer in a scratch run directory; the run's metrics."""
    with tempfile.TemporaryDirectory() as run_dir:
        return train(compose_cfg(overrides, run_dir))


def emit(record: dict[str, Any]) -> dict[str, Any]:
    """Print one measurement as a JSON line."""
    print(json.dumps(record, sort_keys=True), flush=True)
    return record


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table of `rows`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
