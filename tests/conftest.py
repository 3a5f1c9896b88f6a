"""Shared fixtures: a Hydra `compose()` with fast CPU settings, tiny generated IDX data, real MNIST."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

import mnist_lightning.resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning.conf_dir import CONF_DIR  # the configs every entry point composes

MNIST_DIR = os.environ.get("MNIST_DATA_DIR", "")
requires_mnist = pytest.mark.skipif(
    not (MNIST_DIR and Path(MNIST_DIR).is_dir()),
    reason="set MNIST_DATA_DIR to a folder holding the four MNIST .gz files for end-to-end tests",
)

# debug=limit (one epoch, a few batches per split; conf/debug/limit.yaml) on the CPU, quiet: what every
# end-to-end test starts from.
FAST = [
    "debug=limit",
    "task_name=train",  # debug= runs go to outputs/debug; the tests that look for outputs/train keep it
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "report=false",  # tests/test_reports.py turns it on
]


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file by hand (magic 0x0000080N, big-endian dims, bytes), gzipped for *.gz."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def make_tiny_mnist(root: Path, n_train: int = 240, n_test: int = 60, gz: bool = True) -> Path:
    """Learnable fake digits: class k is a bright bar at row 2k+3, plus noise; MNIST file names."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 * k + 3, 4:24] = 255
        ext = ".gz" if gz else ""
        write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return root


def pytest_configure(config: pytest.Config) -> None:
    """The commands the tests run share warm processes of their own (a short folder: a Unix socket's
    path has at most 107 bytes), set before any test module copies the environment."""
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="mlwarm")


def pytest_unconfigure(config: pytest.Config) -> None:
    """End this session's warm processes and remove their folder."""
    subprocess.run([sys.executable, "-m", "mnist_lightning.warm", "stop"], capture_output=True, check=False)
    shutil.rmtree(os.environ["XDG_RUNTIME_DIR"], ignore_errors=True)


def children(pid: int) -> list[int]:
    """The living (not zombie) processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, parent, ...
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A folder with tiny gzipped MNIST-format IDX files (240 train, 60 test)."""
    return make_tiny_mnist(tmp_path / "tiny")


@pytest.fixture
def compose(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose conf/config.yaml with FAST settings and outputs under tmp_path, plus `overrides`."""

    def _compose(*overrides: str, fast: bool = True) -> DictConfig:
        base = [f"run_dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'cache'}"]
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose("config", overrides=[*base, *(FAST if fast else []), *overrides])

    return _compose


def group_options(group: str) -> list[str]:
    """The selectable options of a config group (files starting with '_' are shared bases)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def as_users_have_them(image: np.ndarray, i: int) -> Image.Image:
    """An MNIST digit as a user's photo: dark ink on white paper, upscaled, off-centre on a larger page."""
    rng = np.random.default_rng(i)
    side = int(rng.integers(90, 200))
    digit = Image.fromarray(255 - image).resize((side, side), Image.Resampling.BICUBIC)
    page = Image.new("L", (side + 160, side + 100), 255)
    page.paste(digit, (int(rng.integers(0, 160)), int(rng.integers(0, 100))))
    return page.convert("RGB") if i % 2 else page


def train_checkpoint(folder: Path, *overrides: str) -> Path:
    """best.ckpt of a FAST run in `folder` with `overrides`, on one thread (torch's setting restored)."""
    import torch

    from mnist_lightning.train import train

    threads = torch.get_num_threads()
    # threads=1: on a busy 2-core machine two OpenMP threads run 10x slower than one
    base = [f"run_dir={folder / 'run'}", f"data.cache_dir={folder / 'cache'}", *FAST, "threads=1"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        train(hydra_compose("config", overrides=[*base, *overrides]))
    torch.set_num_threads(threads)  # train() sets it process-wide; leave other tests as they were
    return folder / "run" / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="session")
def mnist_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small but real convnet: 150 batches of 64 real MNIST digits, about 97% accurate, a few s on a CPU."""
    return train_checkpoint(
        tmp_path_factory.mktemp("mnist_ckpt"), "data=idx", f"data.root={MNIST_DIR}",
        "trainer.limit_train_batches=150", "trainer.limit_val_batches=1", "test=false", "data.batch_size=64",
        "model.net.channels=[16,32]", "model.net.hidden=128",
    )  # fmt: skip


@pytest.fixture(scope="session")
def named_tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLP trained for a few steps on generated digits, classes named c0..c9, tested (metrics.json)."""
    tmp = tmp_path_factory.mktemp("named_tiny")
    names = f"data.dataset.class_names=[{','.join(f'c{k}' for k in range(10))}]"
    root = make_tiny_mnist(tmp / "tiny")
    return train_checkpoint(tmp, "data=idx", f"data.root={root}", "data.val_size=40", "model=mlp", names)
