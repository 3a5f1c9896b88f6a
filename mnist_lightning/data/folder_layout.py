"""Where a folder source's splits are: `<root>/<train_dir>/<class>/*`, and optionally `<root>/<test_dir>`.

The test folder holds class folders (a labeled test split, scored), or images alone (Kaggle's
`testSet/testSet/img_N.jpg`: predicted after the test, while a held-out part of train is scored),
or is absent (a held-out part of train is scored).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch

from mnist_lightning.data.digits import Digits
from mnist_lightning.data.folder import SOME_FORMATS, default_names, read_cached
from mnist_lightning.data.folder_classes import FolderClasses, class_folders
from mnist_lightning.data.image_format import GRAY, ImageFormat
from mnist_lightning.data.unlabeled import loose_images
from mnist_lightning.errors import DataError

log = logging.getLogger(__name__)

TRAIN_DIR, TEST_DIR = "train", "test"  # data.train_dir and data.test_dir when not given


class Contents(Enum):
    """What a test folder holds, and so what the run does with it."""

    ABSENT = "absent"  # no test folder: a held-out part of train is scored
    LABELED = "labeled"  # class folders: scored
    UNLABELED = "unlabeled"  # images alone: predicted; a held-out part of train is scored


@dataclass(frozen=True)
class FolderLayout:
    """`root` and its train and test folders' names (data.train_dir, data.test_dir; nested paths allowed)."""

    root: Path
    train_dir: str = TRAIN_DIR
    test_dir: str = TEST_DIR

    @property
    def train(self) -> Path:
        return Path(self.root).expanduser() / self.train_dir

    @property
    def test(self) -> Path:
        return Path(self.root).expanduser() / self.test_dir

    def test_kind(self) -> Contents:
        """What the test folder holds; class folders beside loose images is a one-line error."""
        if not self.test.is_dir():
            return Contents.ABSENT
        classes, images = class_folders(self.test), loose_images(self.test)
        if classes and images:
            raise DataError(
                f"data.test_dir={self.test_dir}: {self.test} holds both class folders ({', '.join(classes)}) "
                f"and {len(images)} images beside them; keep class folders (to score) or images alone "
                "(to predict), not both"
            )
        return Contents.UNLABELED if images else Contents.LABELED

    def check_train(self) -> None:
        """A missing train folder is a one-line error naming data.train_dir and what `root` holds."""
        if self.train.is_dir():
            return
        root = Path(self.root).expanduser()
        found = (", ".join(class_folders(root)[:8]) or "no folders") if root.is_dir() else "does not exist"
        raise DataError(
            f"data.train_dir={self.train_dir}: no folder {self.train} (data.root: {found}); "
            f"expected {self.train}/<class>/*.png (or {SOME_FORMATS}): set data.train_dir to the folder "
            "of class folders, relative to data.root"
        )

    def classes(self, dataset_names: tuple[str, ...]) -> FolderClasses:
        """The classes the train folder's class folders name (a labeled test folder's without train)."""
        has_train = self.train.is_dir() or self.test_kind() != Contents.LABELED
        return FolderClasses.of(self.train if has_train else self.test, dataset_names)


def load_folder(
    root: str | Path,
    cache_dir: str | Path,
    test_fraction: float,
    seed: int,
    classes: FolderClasses | None = None,
    train_dir: str = TRAIN_DIR,
    test_dir: str = TEST_DIR,
    image: ImageFormat = GRAY,
) -> tuple[Digits, Digits]:
    """(train, test); without a labeled test folder, a seeded `test_fraction` of train is the test split."""
    layout = FolderLayout(Path(root), train_dir, test_dir)
    classes = classes or layout.classes(default_names())
    cache = Path(cache_dir).expanduser()
    layout.check_train()
    kind = layout.test_kind()
    train = read_cached(layout.train, cache, classes, image)
    if kind == Contents.LABELED:
        return train, read_cached(layout.test, cache, classes, image)
    if not 0 < test_fraction < 1:
        raise DataError(f"data.test_fraction={test_fraction}: must be between 0 and 1")
    n_test = max(1, round(len(train) * test_fraction))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    why = (
        f"{layout.test} holds images without labels (they are predicted after the test)"
        if kind == Contents.UNLABELED
        else f"{layout.root} has no labeled {layout.test_dir}/ folder"
    )
    log.info(
        "%s: holding out %d of %d train images (data.test_fraction=%g, seed %d) as the test split",
        why, n_test, len(train), test_fraction, seed,
    )  # fmt: skip
    return train.subset(order[n_test:]), train.subset(order[:n_test])


def load_folder_test(
    root: str | Path,
    cache_dir: str | Path,
    test_fraction: float,
    seed: int,
    classes: FolderClasses | None = None,
    train_dir: str = TRAIN_DIR,
    test_dir: str = TEST_DIR,
    image: ImageFormat = GRAY,
) -> Digits:
    """The test split alone: a labeled test folder if any (no train needed), else train's held-out."""
    layout = FolderLayout(Path(root), train_dir, test_dir)
    classes = classes or layout.classes(default_names())
    kind = layout.test_kind()
    if kind == Contents.LABELED:
        return read_cached(layout.test, Path(cache_dir).expanduser(), classes, image)
    if kind == Contents.UNLABELED and not layout.train.is_dir():
        raise DataError(
            f"data.test_dir={layout.test_dir}: {layout.test} holds images without labels and there is no "
            f"{layout.train} (data.train_dir) to hold a test split out of: nothing labeled to score; "
            "point data.root at a folder with class folders"
        )
    return load_folder(root, cache_dir, test_fraction, seed, classes, train_dir, test_dir, image)[1]
