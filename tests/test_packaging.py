"""Packaging: the installed `mnist-lightning` script, a wheel that carries conf/, and file modes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR, FAST
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from mnist_lightning.io import atomic_torch_save, write_bytes_atomic, write_json_atomic
from mnist_lightning.train import train

ROOT = CONF_DIR.parent
# The script that `pip install` puts beside the interpreter (`make install` installs the project).
SCRIPT = Path(sys.executable).parent / "mnist-lightning"
# What a wheel is built from: copied out first, so that setuptools' build/ never lands in the checkout.
SOURCES = ("pyproject.toml", "README.md", "conf", "mnist_lightning", "hydra_plugins")
PACKAGES = ("mnist_lightning", "hydra_plugins")
# Composing this needs our Optuna sweeper, found under hydra_plugins wherever the package is installed.
OVERRIDES = ("hparams_search=optuna",)


def _tiny(root: Path) -> list[str]:
    """A few steps on the tiny IDX files in `root`, on one thread."""
    return ["data=idx", f"data.root={root}", "data.val_size=40", "threads=1"]


def _mode(path: Path) -> int:
    """The permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


def _atomic_files(run: Path) -> list[Path]:
    """The files a run writes through mnist_lightning.io: its metrics and its checkpoints."""
    files = [run / "metrics.json", *sorted((run / "checkpoints").glob("*.ckpt"))]
    assert len(files) >= 3, files  # metrics.json, best.ckpt, last.ckpt
    return files


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    """This process's umask set to `mask` for the block (os.umask is process-wide: restore it)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_installed_script_trains_from_another_directory(tiny_mnist: Path, tmp_path: Path) -> None:
    """`mnist-lightning` runs outside the checkout as `python -m` does; under umask 022 its files are 0644."""
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: install the project (make install)"
    run = tmp_path / "run"
    proc = subprocess.run(
        [str(SCRIPT), *FAST, *_tiny(tiny_mnist), f"data.cache_dir={tmp_path}/c", f"hydra.run.dir={run}"],
        cwd=tmp_path,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        umask=0o022,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Test accuracy:" in proc.stdout + proc.stderr
    files = _atomic_files(run)
    assert {path.name: _mode(path) for path in files} == dict.fromkeys([path.name for path in files], 0o644)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=oct)
def test_atomic_writes_get_the_mode_open_gives(tmp_path: Path, mask: int, expected: int) -> None:
    """Atomically written files get 0666 less the umask, like open(), not mkstemp's 0600."""
    with _umask(mask):
        with open(tmp_path / "plain", "wb"):
            pass
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        write_bytes_atomic(tmp_path / "b.bin", b"x")
        atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "c.pt")
        write_json_atomic(tmp_path / "a.json", {"x": 2})  # replacing a file too
    modes = {path.name: _mode(path) for path in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["plain", "a.json", "b.bin", "c.pt"], expected)


def test_run_under_a_private_umask_keeps_its_files_private(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    """Under umask 077 a run's metrics.json and checkpoints stay 0600."""
    cfg = compose(*_tiny(tiny_mnist))
    with _umask(0o077):
        train(cfg)
    assert {_mode(path) for path in _atomic_files(Path(cfg.run_dir))} == {0o600}


def _tree(root: Path, under: str, suffix: str = "") -> set[str]:
    """The files below `root` ending in `suffix` (bytecode caches aside), named as `under/<relative path>`."""
    return {
        f"{under}/{path.relative_to(root).as_posix()}"
        for path in root.rglob(f"*{suffix}")
        if path.is_file() and "__pycache__" not in path.parts
    }


def _pip(command: str, *args: str) -> None:
    """`pip <command>` for this project alone, offline: nothing is downloaded."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, command, "--no-deps", "--no-index", *args], check=True, timeout=300)


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel of the working tree, built offline with this environment's setuptools."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    _pip("wheel", "--no-build-isolation", "-w", str(dist), str(src))
    (wheel,) = dist.glob("*.whl")
    return wheel


def test_wheel_carries_the_configs_and_composes_outside_the_checkout(tmp_path: Path) -> None:
    """The wheel holds conf/, every module and the page of serve; installed alone, it composes as here."""
    wheel = _build_wheel(tmp_path)
    listed = set(zipfile.ZipFile(wheel).namelist())
    expected = _tree(CONF_DIR, "mnist_lightning/conf") | {"mnist_lightning/py.typed"}
    expected |= _tree(ROOT / "mnist_lightning/web/page", "mnist_lightning/web/page")  # serve's page
    for package in PACKAGES:
        expected |= _tree(ROOT / package, package, ".py")
    missing = expected - listed
    assert not missing, f"not in the wheel (a package missing from pyproject.toml?): {sorted(missing)}"

    site = tmp_path / "site"
    _pip("install", "--target", str(site), str(wheel))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HYDRA_FULL_ERROR": "1"}
    where = subprocess.run(
        [sys.executable, "-c", "import mnist_lightning.cli as c; print(c.__file__); print(c.CONF_DIR)"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    module, conf = map(Path, where.stdout.splitlines())
    installed = site.resolve() / "mnist_lightning"
    assert module.resolve().parent == installed and conf == installed / "conf"  # not the checkout's
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning", "--cfg", "job", *OVERRIDES],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        from_checkout = compose("config", overrides=list(OVERRIDES))
    assert proc.stdout.strip() == OmegaConf.to_yaml(from_checkout).strip()
