"""Data: one reader per source, tensor batches, and the DataModule."""

from mnist_lightning.data.datamodule import (
    DigitDataModule,
    FolderDataModule,
    IdxDataModule,
    TorchvisionDataModule,
)
from mnist_lightning.data.digits import NUM_CLASSES, Digits

__all__ = [
    "NUM_CLASSES",
    "DigitDataModule",
    "Digits",
    "FolderDataModule",
    "IdxDataModule",
    "TorchvisionDataModule",
]
