"""The data sources (data=idx|torchvision|folder): each a DigitDataModule that reads its own files."""

from __future__ import annotations

import dataclasses
import logging

from torch.utils.data import Dataset, Subset

from mnist_lightning.data.datamodule import DigitDataModule
from mnist_lightning.data.digits import Digits
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.data.folder_layout import folder_classes, load_folder, load_folder_test
from mnist_lightning.data.idx import load_idx_dir, load_idx_split
from mnist_lightning.data.image_format import IMAGE_SIZE, ImageFormat
from mnist_lightning.data.torchvision import load_torchvision, prepare_torchvision, torchvision_dataset

log = logging.getLogger(__name__)


class IdxDataModule(DigitDataModule):
    """The dataset's four IDX files in `root`, gzipped or not."""

    def load(self) -> tuple[Digits, Digits]:
        return load_idx_dir(self.root, self.dataset)

    def load_test(self) -> Digits:
        return load_idx_split(self.root, "test", self.dataset)


class TorchvisionDataModule(DigitDataModule):
    """The dataset's torchvision class: local files when present, else a download if allowed."""

    def __init__(self, download: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.download = download

    def prepare_data(self) -> None:
        """Download (if allowed and needed) and stage the files; safe in every process at once."""
        prepare_torchvision(self.root, self.cache_dir, self.download, self.dataset)

    def load(self) -> tuple[Digits, Digits]:
        return load_torchvision(self.root, self.cache_dir, self.download, self.dataset)

    def sample_dataset(self, split: str) -> Dataset:
        """The classic path: the torchvision dataset, one PIL image per sample, then to a tensor."""
        dataset = torchvision_dataset(self.root, self.cache_dir, self.download, split != "test", self.dataset)
        return Subset(dataset, self.indices[split].tolist())


class FolderDataModule(DigitDataModule):
    """Image files under `root/train/<class>/` and optionally `root/test/<class>/`; see folder_classes."""

    def __init__(
        self, test_fraction: float = 0.1, channels: int = 1, image_size: int = IMAGE_SIZE, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.test_fraction = test_fraction
        self.image = ImageFormat(channels, image_size)  # every image made channels x size x size

    def _classes(self) -> FolderClasses:
        # Named class folders replace the dataset's class names: the model's outputs, its checkpoint's
        # facts, reports and predict all read them from self.dataset.
        classes = folder_classes(self.root, self.dataset.class_names)
        if classes.names != self.dataset.class_names:  # the user's own classes: photos are plainly resized
            self.dataset = dataclasses.replace(self.dataset, class_names=classes.names, preprocess="resize")
        log.info("%s", classes.describe())
        return classes

    def load(self) -> tuple[Digits, Digits]:
        classes = self._classes()
        return load_folder(self.root, self.cache_dir, self.test_fraction, self.seed, classes, self.image)

    def load_test(self) -> Digits:
        classes = self._classes()
        return load_folder_test(self.root, self.cache_dir, self.test_fraction, self.seed, classes, self.image)
