"""The IDX reader: round trips, both spellings and layouts, and every malformed-file error."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MNIST_DIR, make_tiny_mnist, requires_mnist, write_idx

from mnist_lightning.data.idx import IMAGES_MAGIC, LABELS_MAGIC, load_idx_dir, read_idx
from mnist_lightning.errors import DataError


def test_gzipped_and_plain_files_read_the_same(tmp_path: Path) -> None:
    gz = make_tiny_mnist(tmp_path / "gz", gz=True)
    plain = make_tiny_mnist(tmp_path / "plain", gz=False)
    (train_a, test_a), (train_b, test_b) = load_idx_dir(gz), load_idx_dir(plain)
    assert train_a.images.shape == (240, 28, 28) and train_a.images.dtype == torch.uint8
    assert train_a.labels.dtype == torch.int64 and test_a.labels.tolist()[:3] == [0, 1, 2]
    assert torch.equal(train_a.images, train_b.images) and torch.equal(test_a.labels, test_b.labels)


def test_reads_values_exactly(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", array)
    assert np.array_equal(read_idx(tmp_path / "x.gz", IMAGES_MAGIC), array)


@pytest.mark.parametrize("layout", ["MNIST/raw", "raw"])
def test_finds_torchvision_layout_and_dot_spelling(tmp_path: Path, layout: str) -> None:
    src = make_tiny_mnist(tmp_path / "src", gz=False)
    dst = tmp_path / "root" / layout
    dst.mkdir(parents=True)
    for f in src.iterdir():  # the bncnn recipe's spelling: train-images.idx3-ubyte
        (dst / f.name.replace("-idx", ".idx")).write_bytes(f.read_bytes())
    train, test = load_idx_dir(tmp_path / "root")
    assert len(train) == 240 and len(test) == 60


def _corrupt(root: Path, name: str, data: bytes) -> Path:
    path = root / name
    path.write_bytes(data)
    return path


def test_images_file_given_as_labels_names_magic(tiny_mnist: Path) -> None:
    images = (tiny_mnist / "train-images-idx3-ubyte.gz").read_bytes()
    _corrupt(tiny_mnist, "train-labels-idx1-ubyte.gz", images)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: magic number 2051 .*expected 2049"):
        load_idx_dir(tiny_mnist)


def test_truncated_file_names_byte_count(tiny_mnist: Path) -> None:
    raw = gzip.decompress((tiny_mnist / "t10k-images-idx3-ubyte.gz").read_bytes())
    _corrupt(tiny_mnist, "t10k-images-idx3-ubyte.gz", gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=r"t10k-images.*dimensions \(60, 28, 28\).*truncated"):
        load_idx_dir(tiny_mnist)


def test_corrupt_gzip_stream(tiny_mnist: Path) -> None:
    data = (tiny_mnist / "train-images-idx3-ubyte.gz").read_bytes()
    _corrupt(tiny_mnist, "train-images-idx3-ubyte.gz", data[: len(data) // 2])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: corrupt or truncated gzip"):
        load_idx_dir(tiny_mnist)


def test_empty_file(tiny_mnist: Path) -> None:
    _corrupt(tiny_mnist, "t10k-labels-idx1-ubyte.gz", b"")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: empty"):
        load_idx_dir(tiny_mnist)


def test_labels_out_of_range(tiny_mnist: Path) -> None:
    write_idx(tiny_mnist / "t10k-labels-idx1-ubyte.gz", np.full(60, 12))
    with pytest.raises(DataError, match=r"label values span 12\.\.12.*0\.\.9"):
        load_idx_dir(tiny_mnist)


def test_image_and_label_counts_differ(tiny_mnist: Path) -> None:
    write_idx(tiny_mnist / "t10k-labels-idx1-ubyte.gz", np.zeros(59))
    with pytest.raises(DataError, match=r"60 images but 59 labels"):
        load_idx_dir(tiny_mnist)


def test_missing_file_says_where_it_looked(tiny_mnist: Path) -> None:
    (tiny_mnist / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match=r"no train-labels-idx1-ubyte\[\.gz\] found \(looked in .*MNIST_DATA_DIR"
    ):
        load_idx_dir(tiny_mnist)


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data.root=.*nowhere: no such folder"):
        load_idx_dir(tmp_path / "nowhere")


@requires_mnist
def test_real_mnist_shapes_and_class_counts() -> None:
    train, test = load_idx_dir(MNIST_DIR)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    # The official class counts of the 10k test set.
    assert torch.bincount(test.labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert read_idx(Path(MNIST_DIR) / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)[0] == 7
