"""`FolderClasses`: which label each class folder of `data=folder` gives, and the classes' names.

Folders all named by digits (`0`..`9`, or some of them) keep their digit labels and the dataset's class
names (dataset=mnist: "0".."9"), so a tree holding only `0`, `1` and `7` still labels `7` as 7.
Folders that are all among the dataset's class names keep the dataset's labels: a test folder that
lacks a class, read by `evaluate` with the checkpoint's names, labels the others as training did.
Any other names are the classes themselves: their sorted order gives the labels, as torchvision's
ImageFolder does (`cat`, `dog`, `fish` -> 0, 1, 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mnist_lightning.errors import DataError


def class_folders(folder: Path) -> list[str]:
    """The sorted names of `folder`'s class folders (hidden ones skipped)."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass(frozen=True)
class FolderClasses:
    """Folder name -> label, and class k's name; made from the train/ folder, applied to test/ too."""

    labels: Mapping[str, int]
    names: tuple[str, ...]

    @classmethod
    def of(cls, folder: Path, dataset_names: tuple[str, ...]) -> FolderClasses:
        """The classes `folder`'s class folders name; all-digit names keep the dataset's digit labels."""
        names = class_folders(folder) if folder.is_dir() else []
        if all(name.isascii() and name.isdigit() for name in names):  # also none: the dataset's classes
            return cls({str(k): k for k in range(len(dataset_names))}, dataset_names)
        if set(names) <= set(dataset_names):  # the dataset's (or a checkpoint's) own classes
            return cls({name: k for k, name in enumerate(dataset_names)}, dataset_names)
        return cls({name: k for k, name in enumerate(names)}, tuple(names))

    def label(self, class_dir: Path) -> int:
        """The label of the images in `class_dir`; a folder naming no known class is a one-line error."""
        if class_dir.name not in self.labels:
            known = ", ".join(self.labels)
            raise DataError(
                f"{class_dir}: '{class_dir.name}' is not one of the classes ({known}); "
                "rename or move this folder (a test/ folder uses train/'s class folder names)"
            )
        return self.labels[class_dir.name]

    def key(self) -> str:
        """The mapping as text, for the decoded-folder cache's name: other labels, another file."""
        return json.dumps(sorted(self.labels.items()))

    def describe(self) -> str:
        """One line for the log, e.g. `Classes (3): cat=0, dog=1, fish=2`."""
        pairs = ", ".join(f"{name}={k}" for k, name in enumerate(self.names))
        return f"Classes ({len(self.names)}): {pairs}"
