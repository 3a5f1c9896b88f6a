"""The DataModule's loader hooks: resident tensor batches (or a DataLoader), and where training resumes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from mnist_lightning.data.batches import TensorBatches

if TYPE_CHECKING:
    import lightning as L

    from mnist_lightning.data.digits import Digits


class Loaders:
    """One loader per split, for DigitDataModule (which sets the attributes below)."""

    splits: dict[str, Digits]
    batch_size: int
    eval_batch_size: int
    seed: int
    resident: bool
    num_workers: int
    train_batches: TensorBatches | None  # the training loader in use, for its position
    resume_batches: dict[str, Any] | None  # its position in a checkpoint being resumed
    trainer: L.Trainer | None

    def sample_dataset(self, split: str) -> Dataset:
        """A per-sample map-style dataset of `split`, for the classic DataLoader path."""
        digits = self.splits[split]
        return TensorDataset(digits.images, digits.labels)

    def _loader(self, split: str, train: bool) -> TensorBatches | DataLoader:
        if self.trainer is not None and self.trainer.overfit_batches > 0 and split in ("train", "val"):
            # trainer.overfit_batches (debug=overfit): the same first training batches, in the same
            # order, for training and validation; Lightning keeps only that many of each.
            split, train = "train", False
            batch_size = self.batch_size
        else:
            batch_size = self.batch_size if train else self.eval_batch_size
        if not self.resident:
            return DataLoader(
                self.sample_dataset(split),
                batch_size=batch_size,
                shuffle=train,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                generator=torch.Generator().manual_seed(self.seed),
            )
        digits, trainer = self.splits[split], self.trainer
        if trainer is None:
            return TensorBatches(digits, batch_size, shuffle=train, seed=self.seed)
        # Keep the whole split on the training device: batches are then index views.
        return TensorBatches(
            digits.to(trainer.strategy.root_device),
            batch_size,
            shuffle=train,
            seed=self.seed,
            epoch=lambda: trainer.current_epoch,
            rank=trainer.global_rank,
            world_size=trainer.world_size,
        )

    def train_dataloader(self) -> TensorBatches | DataLoader:
        """The training batches, continuing a resumed checkpoint's epoch where it stopped."""
        loader = self._loader("train", train=True)
        if isinstance(loader, TensorBatches):
            if self.resume_batches is not None:
                loader.load_state_dict(self.resume_batches)
                self.resume_batches = None
            self.train_batches = loader
        return loader

    # Lightning restores a stateful loader only when it builds the loader after the restore. Our
    # schedulers ask for trainer.estimated_stepping_batches in configure_optimizers, which builds it
    # earlier, so the resume position travels through the DataModule's own checkpoint hooks instead.
    def state_dict(self) -> dict[str, Any]:
        """The training batches' epoch and position, saved in every checkpoint."""
        return {"train_batches": self.train_batches.state_dict()} if self.train_batches is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the checkpoint's epoch at its position, once the training batches are made."""
        self.resume_batches = state_dict.get("train_batches")

    def val_dataloader(self) -> TensorBatches | DataLoader:
        """The validation batches, in order."""
        return self._loader("val", train=False)

    def test_dataloader(self) -> TensorBatches | DataLoader:
        """The test batches, in order."""
        return self._loader("test", train=False)
