"""`cuda_graphs=true` in Lightning: `training_step` runs the whole step (static_step.py) as a graph's replay.

Lightning keeps its automatic loop: it counts the steps, steps the schedulers (their lr and beta1
reach the graph through `StaticStep.feed`), checkpoints, logs and calls every callback as usual.
Only its own backward, zero_grad and optimizer.step stand aside, since the step already did them.
Validation and test stay eager: 5 batches of 1,000 an epoch (fast_gpu) gain less than a capture costs.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from mnist_lightning import metric_keys as M
from mnist_lightning.static_step import StaticStep, make_capturable, scheduled

log = logging.getLogger(__name__)

EAGER = "eager"  # Lightning's own step: cuda_graphs=false, or no CUDA device
STATIC = "static"  # the graph's step on static buffers, called directly (no capture): the CPU stand-in
GRAPH = "graph"  # the same step captured once in a CUDA graph and replayed
GRAPHED = (STATIC, GRAPH)


def settle_mode(cuda_graphs: bool, device: torch.device) -> str:
    """GRAPH on a CUDA device when asked for; otherwise EAGER (one log line when asked for on a CPU)."""
    if not cuda_graphs:
        return EAGER
    if device.type == "cuda":
        return GRAPH
    # Ignored, not refused: fast_gpu (which sets it) also runs on a CPU, and trainer.accelerator=auto
    # picks the device only now.
    log.info("cuda_graphs=true: no CUDA device in this run (%s), so its steps run eagerly", device.type)
    return EAGER


class GraphedTraining:
    """Classifier's hooks for the static step; `step_mode` is settled when training starts.

    A test may preset `step_mode = STATIC` to run the graph's code on a CPU.
    """

    cuda_graphs: bool = False
    step_mode: str | None = None  # None: settled from cuda_graphs and the device at on_train_start
    static_step: StaticStep | None = None
    restored_sums: Tensor | None = None  # (4,) a mid-epoch checkpoint's sums, for the next static step
    trainer: Any
    loss: nn.Module

    def start_graphed(self, device: torch.device) -> None:
        """Settle the mode; a new fit (or the LR finder's, then the real one) captures afresh."""
        if self.step_mode is None:
            self.step_mode = settle_mode(self.cuda_graphs, device)
        self.static_step = None  # optimizer state may have been replaced (a restore): capture again

    def graphed_step(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """One Lightning step through the static step; the last optimizer step's loss ()."""
        optimizer = self.trainer.optimizers[0]
        if self.static_step is None:
            capture = self.step_mode == GRAPH
            if capture:
                make_capturable(optimizer)
            self.static_step = StaticStep(self, self.loss, optimizer, batch, capture=capture)  # type: ignore[arg-type]
            if self.restored_sums is not None:  # resumed mid-epoch: the epoch's sums so far
                self.static_step.sums.copy_(self.restored_sums)
                self.restored_sums = None
        step = self.static_step
        step.feed([scheduled(optimizer)])  # the lr (and beta1) the scheduler set for this step
        losses = step(batch) if step.fits(batch) else step.eager(batch)  # a last, smaller batch: eager
        return losses[-1]

    def log_graphed_epoch(self) -> bool:
        """Log train/loss and train/acc from the static step's sums; False when it took no step."""
        if self.static_step is None:
            return False
        loss, acc = self.static_step.take_sums()
        self.log(M.TRAIN_LOSS, loss.float())  # type: ignore[attr-defined]
        self.log(M.TRAIN_ACC, acc.float())  # type: ignore[attr-defined]
        return True

    # Lightning's automatic loop calls the three hooks below around training_step: with a static
    # step they have nothing left to do. In particular zero_grad must not set the gradients to None:
    # the graph's backward keeps writing to the tensors it captured.
    def optimizer_step(
        self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
    ) -> None:
        """The closure alone (training_step takes the step) when graphed; else Lightning's step."""
        if self.step_mode in GRAPHED:
            optimizer_closure()
            return
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)  # type: ignore[misc]

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Optimizer) -> None:
        """Nothing when graphed (the step zeroes in place); else Lightning's zero_grad."""
        if self.step_mode not in GRAPHED:
            super().optimizer_zero_grad(epoch, batch_idx, optimizer)  # type: ignore[misc]

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Nothing when graphed (the step ran backward); else Lightning's backward."""
        if self.step_mode not in GRAPHED:
            super().backward(loss, *args, **kwargs)  # type: ignore[misc]
