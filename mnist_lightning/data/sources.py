"""The data sources (data=idx|torchvision|folder): each a DigitDataModule that reads its own files."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from torch.utils.data import DataLoader, Dataset, Subset

from mnist_lightning.data.batches import TensorBatches
from mnist_lightning.data.datamodule import DigitDataModule
from mnist_lightning.data.digits import Digits
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.data.folder_layout import (
    TEST_DIR,
    TRAIN_DIR,
    Contents,
    FolderLayout,
    load_folder,
    load_folder_test,
)
from mnist_lightning.data.idx import load_idx_dir, load_idx_split
from mnist_lightning.data.image_format import IMAGE_SIZE, ImageFormat
from mnist_lightning.data.torchvision import load_torchvision, prepare_torchvision, torchvision_dataset
from mnist_lightning.data.unlabeled import Unlabeled, read_unlabeled
from mnist_lightning.errors import DataError

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
    """Image files under `root/<train_dir>/<class>/`, optionally `root/<test_dir>/`; see folder_layout.

    A test folder of images without labels is not scored: `unlabeled_dir` names it, and the
    predict dataloader gives its images as (images, ImageIds) batches for `trainer.predict`.
    """

    def __init__(
        self,
        test_fraction: float = 0.1,
        train_dir: str = TRAIN_DIR,
        test_dir: str = TEST_DIR,
        channels: int = 1,
        image_size: int = IMAGE_SIZE,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.test_fraction = test_fraction
        self.layout = FolderLayout(self.root, train_dir, test_dir)
        self.image = ImageFormat(channels, image_size)  # every image made channels x size x size
        self.unlabeled: Unlabeled | None = None  # read by setup("predict")

    def _classes(self) -> FolderClasses:
        # Named class folders replace the dataset's class names: the model's outputs, its checkpoint's
        # facts, reports and predict all read them from self.dataset.
        classes = self.layout.classes(self.dataset.class_names)
        if classes.names != self.dataset.class_names:  # the user's own classes: photos are plainly resized
            self.dataset = dataclasses.replace(self.dataset, class_names=classes.names, preprocess="resize")
        log.info("%s", classes.describe())
        return classes

    def load(self) -> tuple[Digits, Digits]:
        classes, dirs = self._classes(), (self.layout.train_dir, self.layout.test_dir)
        return load_folder(
            self.root, self.cache_dir, self.test_fraction, self.seed, classes, *dirs, self.image
        )

    def load_test(self) -> Digits:
        classes, dirs = self._classes(), (self.layout.train_dir, self.layout.test_dir)
        return load_folder_test(
            self.root, self.cache_dir, self.test_fraction, self.seed, classes, *dirs, self.image
        )

    @property
    def unlabeled_dir(self) -> Path | None:
        """The test folder when it holds images without labels (to predict), else None."""
        return self.layout.test if self.layout.test_kind() == Contents.UNLABELED else None

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if stage == "predict" and self.unlabeled is None:
            if (folder := self.unlabeled_dir) is None:
                raise DataError(f"data.test_dir={self.layout.test_dir}: {self.layout.test} holds no "
                                "images without labels: nothing to predict")  # fmt: skip
            self.unlabeled = read_unlabeled(folder, self.cache_dir, self.image)
            # A split like the others, its labels the ImageIds: batched (and shared out under DDP) alike.
            self.splits["predict"] = Digits(self.unlabeled.images, self.unlabeled.ids)
            log.info("Predicting %s images of %s", f"{len(self.unlabeled):,}", folder)

    def predict_dataloader(self) -> TensorBatches | DataLoader:
        """The unlabeled test images in (images, ImageIds) batches; ImageIds pass through predict_step."""
        assert "predict" in self.splits, "setup('predict') reads the images"
        return self._loader("predict", train=False)
