"""The three sources agree image for image; the folder reader, its cache and torchvision offline;
staging, decoding and downloading by two processes at once."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import logging
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF_DIR, MNIST_DIR, make_tiny_mnist, requires_mnist, write_idx
from PIL import Image
from torchvision import datasets

from mnist_lightning.data import Digits, FolderDataModule, IdxDataModule, TorchvisionDataModule
from mnist_lightning.data.datasets import KINDS, SPLITS, builtin
from mnist_lightning.data.folder import read_image_folder, write_image_folder
from mnist_lightning.data.folder_layout import load_folder
from mnist_lightning.data.idx import GZIP_MAGIC, find_idx_file, load_idx_dir
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


def test_folder_reads_colour_as_grayscale_by_default_and_resizes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "7").mkdir()
    rgb = np.zeros((56, 56, 3), np.uint8)
    rgb[10:40, 20:30] = (255, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "7" / "big.jpg")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[5:20, 5:20] = (255, 255, 255, 255)  # transparent elsewhere: becomes black
    Image.fromarray(rgba).save(tmp_path / "7" / "alpha.png")
    Image.fromarray(rgb[:28, :28, 0]).save(tmp_path / "7" / "scan.tif")  # any format predict reads, too
    (tmp_path / "7" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        digits = read_image_folder(tmp_path)
    assert digits.images.shape == (3, 28, 28) and digits.labels.tolist() == [7, 7, 7]
    assert "resized 1 images to 28x28" in caplog.text and "skipped 1 files" in caplog.text
    alpha = digits.images[0]  # "alpha" sorts before "big"
    assert alpha[10, 10] == 255 and alpha[25, 25] == 0


def test_folder_errors_name_the_path(tmp_path: Path) -> None:
    (tmp_path / "train" / "12").mkdir(parents=True)  # all-digit names: digit labels, 0-9 for MNIST
    with pytest.raises(DataError, match=r"12: '12' is not one of the classes \(0, 1, .*9\)"):
        load_folder(tmp_path, tmp_path / "c", 0.1, 0)
    shutil.rmtree(tmp_path / "train" / "12")
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


# Runs in each of two processes: for every round, say "ready", wait for the parent's "go", then
# prepare and set up `data=<source>` through the real config and DataModule, as a sweep job would.
RACER = """
import os, sys, time
from pathlib import Path
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
import mnist_lightning.data, mnist_lightning.resolvers  # imported before the race, not during it

conf_dir, sync, rounds, *overrides = sys.argv[1:]
sync = Path(sync)
for r in range(int(rounds)):
    (sync / f"ready-{r}-{os.getpid()}").touch()
    while not (sync / f"go-{r}").exists():
        time.sleep(0.002)
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"data.cache_dir={sync / f'cache-{r}'}"])
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    print(r, *(len(split) for split in datamodule.splits.values()), flush=True)
"""


def _race(tmp_path: Path, rounds: int, *overrides: str) -> list[str]:
    """Two processes prepare the same source into an empty cache at once, `rounds` times; their outputs."""
    sync = tmp_path / "sync"
    sync.mkdir()
    args = [sys.executable, "-c", RACER, str(CONF_DIR), str(sync), str(rounds), *overrides]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    for r in range(rounds):
        deadline = time.monotonic() + 120
        while len(list(sync.glob(f"ready-{r}-*"))) < 2 and all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "the racing processes did not get ready"
            time.sleep(0.005)
        (sync / f"go-{r}").touch()  # both are waiting: start them together
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    return [out for out, _ in outputs]


def _decompressed(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data


@requires_mnist
def test_two_processes_stage_torchvision_files_at_once(tmp_path: Path) -> None:
    rounds = 2  # the old fixed temporary name failed in the first round, every time of 4
    outputs = _race(tmp_path, rounds, "data=torchvision", f"data.root={MNIST_DIR}", "data.download=false")
    for out in outputs:
        assert out.splitlines() == [f"{r} 55000 5000 10000" for r in range(rounds)]
    mnist = builtin("mnist")
    sources = {
        mnist.file_name(split, kind): _decompressed(find_idx_file(Path(MNIST_DIR), split, kind))
        for split in SPLITS
        for kind in KINDS
    }
    for r in range(rounds):
        staged = [p for p in (tmp_path / "sync" / f"cache-{r}").rglob("*") if p.is_file()]
        assert sorted(p.name for p in staged) == sorted(sources), staged  # no temporary files left
        for path in staged:
            assert path.read_bytes() == sources[path.name], path


def test_two_threads_decode_an_image_folder_at_once(tiny_mnist: Path, tmp_path: Path) -> None:
    # Threads, not processes: the cache is shared through files, as between processes, and this
    # costs no interpreter start-up. The file name holds the folder's fingerprint and the file is
    # renamed into place, so concurrent writers need no lock.
    for split, digits in zip(("train", "test"), load_idx_dir(tiny_mnist), strict=True):
        write_image_folder(digits, tmp_path / "png" / split)
    start = threading.Barrier(2)

    def prepare(_: int) -> dict[str, Digits]:
        module = FolderDataModule(**COMMON, root=str(tmp_path / "png"), cache_dir=str(tmp_path / "cache"))
        start.wait()
        module.prepare_data()
        module.setup("fit")
        return module.splits

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(prepare, range(2))
    _assert_same_splits(first, second)
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert sorted(p.suffix for p in cached) == [".pt", ".pt"], cached  # train and test; no temporary files


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def mnist_mirror(tiny_mnist: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """torchvision's MNIST download pointed at the tiny files, served over HTTP on localhost."""
    handler = functools.partial(QuietHandler, directory=str(tiny_mnist))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    resources = [
        (name, hashlib.md5((tiny_mnist / name).read_bytes()).hexdigest())
        for name, _ in datasets.MNIST.resources
    ]
    monkeypatch.setattr(datasets.MNIST, "resources", resources)
    yield tiny_mnist
    server.shutdown()
    server.server_close()


def test_two_downloads_at_once_each_move_complete_files_into_place(
    mnist_mirror: Path, tmp_path: Path
) -> None:
    root, cache = tmp_path / "root", tmp_path / "cache"
    start = threading.Barrier(2)

    def download(_: int) -> tuple[Digits, Digits]:
        start.wait()
        return load_torchvision(root, cache, download=True)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(download, range(2)))
    expected = load_idx_dir(mnist_mirror)
    for got, want in zip([*results[0], *results[1]], [*expected, *expected], strict=True):
        assert torch.equal(got.images, want.images) and torch.equal(got.labels, want.labels)
    names = {name for name, _ in datasets.MNIST.resources}
    names |= {name.removesuffix(".gz") for name in names}
    assert sorted(p.name for p in (root / "MNIST").rglob("*")) == sorted({"raw", *names})  # no temporaries
