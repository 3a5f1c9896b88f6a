"""`Classifier`: the one LightningModule; wraps any `nn.Module` with its loss, metrics and optimisation."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from mnist_lightning import metric_keys as M
from mnist_lightning.building import build
from mnist_lightning.continuation import RESUME_KEY, restore, resume_state
from mnist_lightning.data.facts import FACTS_KEY, DataFacts
from mnist_lightning.graphed import GRAPHED, GraphedTraining
from mnist_lightning.optimization import build_optimizer, build_scheduler

SPLITS = ("train", "val", "test")

# Every value we log is already the same on every rank (torchmetrics gathered it, or it is the
# learning rate), so it is logged with sync_dist=False. With sync_dist=True Lightning reduces it
# lazily, whenever something first reads it: the progress bar does on rank 0 alone at the end of
# an epoch, while the other ranks are gathering metrics, and the collectives never meet (a hang).
warnings.filterwarnings(
    "ignore", message=r"It is recommended to use `self.log\('(train|val|test)/", category=PossibleUserWarning
)


class Classifier(GraphedTraining, L.LightningModule):
    """Loss, accuracy per split and `val/acc_best`; optimizer and scheduler are instantiated from config.

    With `cuda_graphs` on a CUDA device each training step is one replay of a CUDA graph (graphed.py).
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None,
        facts: DataFacts,
        config: dict[str, Any] | None = None,
        channels_last: bool = False,
        cuda_graphs: bool = False,
    ) -> None:
        super().__init__()
        self.facts = facts  # saved with each checkpoint: evaluate, predict and export read it there
        self.net, self.loss = net, loss
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        self.cuda_graphs = cuda_graphs
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler or {})
        if config is not None:
            # Plain data only, so the checkpoint loads with torch.load(weights_only=True).
            self.save_hyperparameters(config, logger=False)  # loggers get flat hparams when the run ends
        for split in SPLITS:
            # Updated every step as plain tensor ops, read once per epoch: no per-step host sync
            # (validate_args and nan checks would each cost one), and torchmetrics syncs them under DDP.
            setattr(self, f"{split}_loss", MeanMetric(nan_strategy="disable"))
            acc = MulticlassAccuracy(facts.num_classes, average="micro", validate_args=False)
            setattr(self, f"{split}_acc", acc)
        self.test_samples = SumMetric()  # synced across DDP ranks like the others
        # The test pass's own counts and predictions: the run report draws them, so it always agrees
        # with metrics.json (same batches, precision and weights).
        self.test_confusion = MulticlassConfusionMatrix(facts.num_classes, validate_args=False)
        self.test_predictions: list[tuple[Tensor, Tensor]] = []  # this rank's (pred, confidence) per batch
        self.tested_confusion: Tensor | None = None  # (K, K) true x predicted, after a test pass
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # in the checkpoint, so a resumed run remembers its best
        self.show_step_loss = False
        self.fit_seconds = 0.0  # wall time of trainer.fit, every part of a resumed run included
        self.fit_seconds_before = 0.0  # that of the earlier parts, from the checkpoint resumed
        self.fit_started: float | None = None  # perf_counter() when this part's fit began
        self.versions: dict[str, str | None] = {}  # package versions and git commit, set by train()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.contiguous(memory_format=self.memory_format))

    def probs(self, x: Tensor) -> Tensor:
        """Class probabilities (B, K) for normalised images (B, C, H, W)."""
        return self.loss.probs(self(x))

    def _step(self, batch: tuple[Tensor, Tensor], split: str) -> tuple[Tensor, Tensor]:
        x, y = batch
        out = self(x)  # (B, K)
        loss = self.loss(out, y)
        getattr(self, f"{split}_loss").update(loss.detach(), len(y))
        getattr(self, f"{split}_acc").update(out.detach(), y)
        return loss, out.detach()

    def _log_epoch(self, split: str) -> None:
        """Log `<split>/loss` and `<split>/acc` for the epoch, then start afresh."""
        for name in ("loss", "acc"):
            metric = getattr(self, f"{split}_{name}")
            # compute() gathers every rank (torchmetrics); the value is then the same everywhere.
            self.log(f"{split}/{name}", metric.compute(), prog_bar=split == "val" and name == "acc")
            metric.reset()

    def on_train_start(self) -> None:
        # The running loss in the progress bar is the one per-step value read off the device.
        self.show_step_loss = self.trainer.progress_bar_callback is not None
        self.start_graphed(self.device)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        if self.step_mode in GRAPHED:
            loss = self.graphed_step(batch)  # forward, backward and the optimizer step, all in one
        else:
            loss, _ = self._step(batch, "train")
        if self.show_step_loss:
            self.log("loss", loss, prog_bar=True, logger=False, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        _, out = self._step(batch, "test")
        self.test_samples.update(len(batch[1]))
        self.test_confusion.update(out, batch[1])
        confidence, pred = self.loss.probs(out.float()).max(dim=1)  # (B,), (B,)
        self.test_predictions.append((pred, confidence))

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> tuple[Tensor, Tensor]:
        """(keys, predicted class) of a batch of (images, keys): the keys (ImageIds, say) pass through."""
        x, keys = batch
        return keys, self.probs(x).argmax(dim=1)  # (B,), (B,): as the test step picks its class

    def on_test_epoch_start(self) -> None:
        self.test_predictions = []

    def on_train_epoch_start(self) -> None:
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]  # the same on every rank
        self.log(M.LR, lr, on_step=False, on_epoch=True)

    def on_train_epoch_end(self) -> None:
        if not self.log_graphed_epoch():
            self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            for name in ("loss", "acc"):
                getattr(self, f"val_{name}").reset()
            return
        self.val_acc_best.update(self.val_acc.compute())
        self._log_epoch("val")
        self.log(M.VAL_ACC_BEST, self.val_acc_best.compute(), prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")
        self.log(M.TEST_SAMPLES, self.test_samples.compute())
        self.test_samples.reset()
        self.tested_confusion = self.test_confusion.compute().cpu()  # (K, K), every rank's images
        self.test_confusion.reset()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["versions"] = dict(self.versions)
        checkpoint[FACTS_KEY] = self.facts.to_dict()
        checkpoint[RESUME_KEY] = resume_state(self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING:
            restore(self, checkpoint.get(RESUME_KEY) or {})

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.optimizer_cfg, self.parameters())
        if not self.scheduler_cfg:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": build_scheduler(self.scheduler_cfg, optimizer, self.trainer),
        }


def build_classifier(cfg: DictConfig, facts: DataFacts) -> Classifier:
    """The model config's network and loss, sized by the data's facts, wrapped in a Classifier."""
    net = build("model.net", cfg.model.net, in_shape=facts.input_shape, num_classes=facts.num_classes)
    if cfg.compile:
        net.compile()  # in place: state-dict keys stay those of the plain module
    return Classifier(
        net=net,
        loss=build("model.loss", cfg.model.loss),
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),  # type: ignore[arg-type]
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True) if cfg.scheduler else None,  # type: ignore[arg-type]
        facts=facts,
        config=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
        channels_last=cfg.channels_last,
        cuda_graphs=bool(cfg.get("cuda_graphs", False)),  # absent from older checkpoints' configs
    )
