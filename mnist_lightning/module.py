"""`Classifier`: the one LightningModule; wraps any `nn.Module` with its loss, metrics and optimisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import Tensor, nn, optim
from torchmetrics import MaxMetric, MeanMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy

from mnist_lightning import metrics as M
from mnist_lightning.errors import ConfigError

SPLITS = ("train", "val", "test")
SHAPE_KEY = "data_shape"  # checkpoint entry: {"input_shape": [C, H, W], "num_classes": K}
# Scheduler arguments that mean "until the end of training"; left null in YAML, filled in here.
HORIZON_KEYS = ("total_steps", "T_max")
# Step-based horizons are at least this long: OneCycleLR divides by zero on very short cycles, so a
# smoke run (a few batches) leaves its schedule unfinished instead of crashing.
MIN_STEP_HORIZON = 100
# Keys in conf/scheduler/*.yaml that are for Lightning, not for the torch scheduler itself.
LIGHTNING_KEYS = ("interval", "frequency", "monitor", "warmup")


class Classifier(L.LightningModule):
    """Loss, accuracy per split and `val/acc_best`; optimizer and scheduler are instantiated from config."""

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None,
        num_classes: int,
        config: dict[str, Any] | None = None,
        channels_last: bool = False,
        input_shape: tuple[int, int, int] | None = None,
    ) -> None:
        super().__init__()
        # Saved with each checkpoint, so predict and export rebuild the network without the data.
        self.shape = {"input_shape": list(input_shape or ()), "num_classes": num_classes}
        self.net, self.loss = net, loss
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler or {})
        if config is not None:
            # Plain data only, so the checkpoint loads with torch.load(weights_only=True).
            self.save_hyperparameters(config)
        for split in SPLITS:
            # Updated every step as plain tensor ops, read once per epoch: no per-step host sync
            # (validate_args and nan checks would each cost one), and torchmetrics syncs them under DDP.
            setattr(self, f"{split}_loss", MeanMetric(nan_strategy="disable"))
            setattr(
                self, f"{split}_acc", MulticlassAccuracy(num_classes, average="micro", validate_args=False)
            )
        self.test_samples = SumMetric()  # synced across DDP ranks like the others
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # in the checkpoint, so a resumed run remembers its best
        self.show_step_loss = False
        self.versions: dict[str, str | None] = {}  # package versions and git commit, set by train()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.contiguous(memory_format=self.memory_format))

    def probs(self, x: Tensor) -> Tensor:
        """Class probabilities (B, K) for normalised images (B, C, H, W)."""
        return self.loss.probs(self(x))

    def _step(self, batch: tuple[Tensor, Tensor], split: str) -> Tensor:
        x, y = batch
        out = self(x)  # (B, K)
        loss = self.loss(out, y)
        getattr(self, f"{split}_loss").update(loss.detach(), len(y))
        getattr(self, f"{split}_acc").update(out.detach(), y)
        return loss

    def _log_epoch(self, split: str) -> None:
        """Log `<split>/loss` and `<split>/acc` for the epoch, then start afresh."""
        for name in ("loss", "acc"):
            metric = getattr(self, f"{split}_{name}")
            # compute() has already gathered every rank; sync_dist only quiets Lightning's DDP warning.
            self.log(
                f"{split}/{name}", metric.compute(), prog_bar=split == "val" and name == "acc", sync_dist=True
            )
            metric.reset()

    def on_train_start(self) -> None:
        # The running loss in the progress bar is the one per-step value read off the device.
        self.show_step_loss = self.trainer.progress_bar_callback is not None

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self._step(batch, "train")
        if self.show_step_loss:
            self.log("loss", loss, prog_bar=True, logger=False, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")
        self.test_samples.update(len(batch[1]))

    def on_train_epoch_start(self) -> None:
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.log(M.LR, lr, on_step=False, on_epoch=True, sync_dist=True)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            for name in ("loss", "acc"):
                getattr(self, f"val_{name}").reset()
            return
        self.val_acc_best.update(self.val_acc.compute())
        self._log_epoch("val")
        self.log(M.VAL_ACC_BEST, self.val_acc_best.compute(), prog_bar=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")
        self.log(M.TEST_SAMPLES, self.test_samples.compute(), sync_dist=True)
        self.test_samples.reset()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["versions"] = dict(self.versions)
        checkpoint[SHAPE_KEY] = dict(self.shape)

    def configure_optimizers(self) -> Any:
        try:
            optimizer: optim.Optimizer = instantiate(self.optimizer_cfg)(self.parameters())
        except ValueError as err:  # torch's own range checks, e.g. "Invalid learning rate: -0.1"
            raise ConfigError(f"optimizer: {err}; fix the value in optimizer.*") from None
        if not self.scheduler_cfg:
            return optimizer
        kwargs = {k: v for k, v in self.scheduler_cfg.items() if k not in LIGHTNING_KEYS}
        interval = self.scheduler_cfg.get("interval", "epoch")
        warmup = int(self.scheduler_cfg.get("warmup", 0))
        horizons = {
            "step": max(int(self.trainer.estimated_stepping_batches), MIN_STEP_HORIZON),
            "epoch": self.trainer.max_epochs,
        }
        if interval not in horizons:
            raise ConfigError(f"scheduler.interval={interval!r}: use 'epoch' or 'step'")
        for key in HORIZON_KEYS:
            if key in kwargs and kwargs[key] is None:
                kwargs[key] = max(1, int(horizons[interval]) - warmup)
        scheduler = instantiate(kwargs)(optimizer)
        if warmup > 0:
            # Linear warm-up over `warmup` intervals, then hand over to the configured schedule.
            ramp = optim.lr_scheduler.LinearLR(optimizer, 1.0 / (warmup + 1), total_iters=warmup)
            scheduler = optim.lr_scheduler.SequentialLR(optimizer, [ramp, scheduler], [warmup])
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": interval,
                "frequency": int(self.scheduler_cfg.get("frequency", 1)),
                "monitor": self.scheduler_cfg.get("monitor", M.VAL_LOSS),
            },
        }
