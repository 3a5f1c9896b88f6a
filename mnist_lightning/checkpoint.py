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

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6
PICKLE_PROTOCOL = b"\x80"  # the older format: a bare pickle stream
WHAT_TO_PASS = "pass a best.ckpt or last.ckpt of a run"


def _read(path: Path) -> Any:
    """torch.load with weights_only=True; every way it can fail becomes one line of ours.

    torch's own message for a checkpoint with code in it suggests weights_only=False, which would run
    that code: it is never shown.
    """
    with path.open("rb") as f:
        head = f.read(4)
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_PROTOCOL)):
        raise DataError(
            f"ckpt_path={path}: not a PyTorch checkpoint (an ONNX, image or text file?); {WHAT_TO_PASS}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise DataError(
            f"ckpt_path={path}: holds Python objects other than plain data, so it is not loaded "
            f"(loading it could run code); {WHAT_TO_PASS}"
        ) from None
    except Exception as err:  # a truncated file, a TorchScript archive, any other damage
        raise DataError(
            f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}); {WHAT_TO_PASS}"
        ) from None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint of ours, loaded as plain data only (weights_only=True: it can never run code)."""
    if not path.is_file():
        raise DataError(f"ckpt_path={path}: no such file; {WHAT_TO_PASS}")
    ckpt = _read(path)
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
