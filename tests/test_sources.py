"""The three sources agree image for image; the folder reader, its cache and torchvision offline."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MNIST_DIR, make_tiny_mnist, requires_mnist, write_idx
from PIL import Image

from mnist_lightning.data import FolderDataModule, IdxDataModule, TorchvisionDataModule
from mnist_lightning.data.folder import load_folder, read_image_folder, write_image_folder
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.data.torchvision import load_torchvision
from mnist_lightning.errors import DataError

COMMON = dict(batch_size=32, val_size=50, mean=0.1307, std=0.3081, seed=0)


def _splits(module_cls: type, **kwargs: object) -> dict[str, torch.Tensor]:
    module = module_cls(**COMMON, **kwargs)
    module.setup("fit")
    return module.splits


def _assert_same_splits(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() == {"train", "val", "test"}
    for name in a:
        assert torch.equal(a[name].images, b[name].images), name
        assert torch.equal(a[name].labels, b[name].labels), name


def test_idx_and_png_folder_give_identical_splits(tiny_mnist: Path, tmp_path: Path) -> None:
    train, test = load_idx_dir(tiny_mnist)
    write_image_folder(train, tmp_path / "png" / "train")
    write_image_folder(test, tmp_path / "png" / "test")
    cache = str(tmp_path / "cache")
    idx = _splits(IdxDataModule, root=str(tiny_mnist), cache_dir=cache)
    folder = _splits(FolderDataModule, root=str(tmp_path / "png"), cache_dir=cache)
    _assert_same_splits(idx, folder)


def test_torchvision_offline_from_flat_gz_and_read_only_root(tiny_mnist: Path, tmp_path: Path) -> None:
    tiny_mnist.chmod(0o555)  # like the shared data folder: nothing may be written there
    try:
        cache = str(tmp_path / "cache")
        idx = _splits(IdxDataModule, root=str(tiny_mnist), cache_dir=cache)
        tv = _splits(TorchvisionDataModule, root=str(tiny_mnist), cache_dir=cache, download=False)
    finally:
        tiny_mnist.chmod(0o755)
    _assert_same_splits(idx, tv)


def test_torchvision_offline_from_mnist_raw_layout(tmp_path: Path) -> None:
    make_tiny_mnist(tmp_path / "root" / "MNIST" / "raw")
    train, test = load_torchvision(tmp_path / "root", tmp_path / "cache", download=False)
    assert len(train) == 240 and len(test) == 60


def test_torchvision_without_data_or_download_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no MNIST files found \(looked in .*empty.*data.download=false"):
        load_torchvision(tmp_path / "empty", tmp_path / "cache", download=False)


def test_folder_without_test_holds_out_a_seeded_fraction(
    tiny_mnist: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train, _ = load_idx_dir(tiny_mnist)
    write_image_folder(train, tmp_path / "png" / "train")
    with caplog.at_level(logging.INFO):
        a_train, a_test = load_folder(tmp_path / "png", tmp_path / "c", test_fraction=0.25, seed=3)
    assert "no labeled test/ folder: holding out 60 of 240" in caplog.text
    _, b_test = load_folder(tmp_path / "png", tmp_path / "c", test_fraction=0.25, seed=3)
    assert len(a_test) == 60 and len(a_train) == 180
    assert torch.equal(a_test.images, b_test.images)  # the same seed, the same split
    held = {img.numpy().tobytes() for img in a_test.images}
    assert not held & {img.numpy().tobytes() for img in a_train.images}


def test_folder_cache_is_used_and_invalidated(tiny_mnist: Path, tmp_path: Path) -> None:
    train, _ = load_idx_dir(tiny_mnist)
    write_image_folder(train.subset(torch.arange(30)), tmp_path / "png" / "train")
    cache = tmp_path / "cache"
    load_folder(tmp_path / "png", cache, 0.2, 0)
    cached = list((cache / "folder").glob("*.pt"))
    assert len(cached) == 1
    extra = tmp_path / "png" / "train" / "3" / "zzz.png"
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(extra)
    second, test = load_folder(tmp_path / "png", cache, 0.2, 0)
    assert len(second) + len(test) == 31  # the new file was seen, not the stale cache
    assert len(list((cache / "folder").glob("*.pt"))) == 2


def test_folder_converts_colour_and_resizes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "7").mkdir()
    rgb = np.zeros((56, 56, 3), np.uint8)
    rgb[10:40, 20:30] = (255, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "7" / "big.jpg")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[5:20, 5:20] = (255, 255, 255, 255)  # transparent elsewhere: becomes black
    Image.fromarray(rgba).save(tmp_path / "7" / "alpha.png")
    (tmp_path / "7" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        digits = read_image_folder(tmp_path)
    assert digits.images.shape == (2, 28, 28) and digits.labels.tolist() == [7, 7]
    assert "resized 1 images to 28x28" in caplog.text and "skipped 1 files" in caplog.text
    alpha = digits.images[0]  # "alpha" sorts before "big"
    assert alpha[10, 10] == 255 and alpha[25, 25] == 0


def test_folder_errors_name_the_path(tmp_path: Path) -> None:
    (tmp_path / "train" / "seven").mkdir(parents=True)
    with pytest.raises(DataError, match=r"seven: class folders must be named by their digit"):
        load_folder(tmp_path, tmp_path / "c", 0.1, 0)
    shutil.rmtree(tmp_path / "train" / "seven")
    (tmp_path / "train" / "1").mkdir()
    with pytest.raises(DataError, match=r"train: no images found"):
        load_folder(tmp_path, tmp_path / "c", 0.1, 0)
    (tmp_path / "train" / "1" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: not a readable image"):
        load_folder(tmp_path, tmp_path / "c", 0.1, 0)


@requires_mnist
def test_real_mnist_identical_through_all_three_sources(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    idx = _splits(IdxDataModule, root=MNIST_DIR, cache_dir=cache)
    tv = _splits(TorchvisionDataModule, root=MNIST_DIR, cache_dir=cache, download=False)
    _assert_same_splits(idx, tv)
    assert len(idx["train"]) == 59950 and len(idx["test"]) == 10000
    # A PNG folder written from the first 1,000 train and 300 test images of the real files.
    train, test = load_idx_dir(MNIST_DIR)
    small = tmp_path / "small"
    small.mkdir()
    for prefix, split, n in (("train", train, 1000), ("t10k", test, 300)):
        write_idx(small / f"{prefix}-images-idx3-ubyte", split.images[:n].numpy())
        write_idx(small / f"{prefix}-labels-idx1-ubyte", split.labels[:n].numpy())
        write_image_folder(split.subset(torch.arange(n)), tmp_path / "png" / prefix.replace("t10k", "test"))
    _assert_same_splits(
        _splits(IdxDataModule, root=str(small), cache_dir=cache),
        _splits(FolderDataModule, root=str(tmp_path / "png"), cache_dir=cache),
    )
