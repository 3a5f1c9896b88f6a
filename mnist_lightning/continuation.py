"""What an exact continuation needs beyond Lightning's state: RNG states, the epoch's sums, the fit time.

Lightning's checkpoint restores the weights, optimizer, schedulers and loop counters, but not the
random number generators (dropout and on-device augmentation draw from them), the training
metrics of an unfinished epoch, or how long the earlier parts of a resumed run trained. They
travel in the checkpoint under `RESUME_KEY`, as plain tensors and numbers.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

RESUME_KEY = "resume_state"
TRAIN_METRICS = ("train_loss", "train_acc")  # the module's metrics that sum over a training epoch


def resume_state(module: L.LightningModule) -> dict[str, Any]:
    """The RNG states, and (on one process) the training metrics' sums of the epoch so far."""
    state: dict[str, Any] = {"cpu_rng": torch.get_rng_state()}
    if module.fit_started is not None:  # fit time of every part so far: a resumed run adds its own
        state["fit_seconds"] = module.fit_seconds_before + time.perf_counter() - module.fit_started
    if module.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(module.device)
    if module._trainer is None or module.trainer.world_size == 1:
        # Under DDP each rank holds only its own partial sums, and only rank 0's would be saved.
        sums = {name: getattr(module, name).metric_state for name in TRAIN_METRICS}
        state["train_metrics"] = {
            name: {key: value.detach().cpu().clone() for key, value in values.items()}
            for name, values in sums.items()
        }
        if getattr(module, "static_step", None) is not None:  # cuda_graphs: the step keeps its own sums
            state["graph_sums"] = module.static_step.sums.detach().cpu().clone()  # type: ignore[union-attr]
    return state


def restore(module: L.LightningModule, state: dict[str, Any]) -> None:
    """Put back what `resume_state` saved; a checkpoint without it (an older one) changes nothing."""
    module.fit_seconds_before = float(state.get("fit_seconds", 0.0))
    if "cpu_rng" in state:
        torch.set_rng_state(state["cpu_rng"])
    if "cuda_rng" in state and module.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], module.device)
    module.restored_sums = state.get("graph_sums")  # the next static step starts from them
    for name, values in state.get("train_metrics", {}).items():
        metric = getattr(module, name)
        for key, value in values.items():
            setattr(metric, key, value.to(module.device))
