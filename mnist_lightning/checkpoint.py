"""Loading our checkpoints: plain data only (weights_only=True), so a checkpoint can never run code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from mnist_lightning.data.facts import DataFacts
from mnist_lightning.errors import DataError
from mnist_lightning.module import Classifier, build_classifier


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint of ours, loaded as plain data only (weights_only=True: it can never run code)."""
    if not path.is_file():
        raise DataError(f"ckpt_path={path}: no such file; pass a best.ckpt or last.ckpt of a run")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"ckpt_path={path}: not a readable plain-data checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or "hyper_parameters" not in ckpt or "state_dict" not in ckpt:
        raise DataError(f"ckpt_path={path}: not a checkpoint written by mnist-lightning (no stored config)")
    return ckpt


def load_classifier(path: Path) -> tuple[Classifier, DataFacts, DictConfig]:
    """The checkpoint's model in eval mode on the CPU, the data facts it was trained with, and its config."""
    ckpt = load_checkpoint(path)
    stored = OmegaConf.create(ckpt["hyper_parameters"])
    stored.compile = False  # one pass over a few images or a test split does not pay for compiling
    facts = DataFacts.from_checkpoint(ckpt)
    model = build_classifier(stored, facts)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), facts, stored
