"""export_images: a PNG round trip through data=folder is lossless; bad settings fail as one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig

from mnist_lightning.data.folder_layout import load_folder
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.errors import ConfigError
from mnist_lightning.export_images import export_images


def _compose(tiny_mnist: Path, tmp_path: Path, *overrides: str) -> DictConfig:
    base = ["data=idx", f"data.root={tiny_mnist}", f"data.cache_dir={tmp_path / 'cache'}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("export_images", overrides=[*base, *overrides])


def _files(root: Path, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(pattern))


def test_png_round_trip_through_the_folder_reader_is_lossless(tiny_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "png"
    counts = export_images(_compose(tiny_mnist, tmp_path, f"out={out}"))
    assert counts == {"train": 240, "test": 60, "out": str(out)}
    assert (out / "train" / "7" / "007.png").is_file() and (out / "test" / "9" / "59.png").is_file()
    source = load_idx_dir(tiny_mnist)
    read_back = load_folder(out, tmp_path / "cache", test_fraction=0.1, seed=0)
    for split, (want, got) in zip(("train", "test"), zip(source, read_back, strict=True), strict=True):
        assert torch.equal(want.images, got.images), split
        assert torch.equal(want.labels, got.labels), split


def test_jpg_export_has_the_layout_and_counts(tiny_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "jpg"
    assert export_images(_compose(tiny_mnist, tmp_path, f"out={out}", "format=jpeg"))["test"] == 60
    files = _files(out, "*.*")
    assert len(files) == 300 and all(name.endswith(".jpg") for name in files)
    assert len(_files(out / "train", "*.jpg")) == 240 and len(_files(out / "test" / "3", "*.jpg")) == 6
    train, _ = load_folder(out, tmp_path / "cache", test_fraction=0.1, seed=0)
    assert train.labels.tolist() == load_idx_dir(tiny_mnist)[0].labels.tolist()  # lossy pixels, same order


def test_unknown_format_is_a_config_error(tiny_mnist: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"format=gif: .*png .*jpg"):
        export_images(_compose(tiny_mnist, tmp_path, f"out={tmp_path / 'x'}", "format=gif"))


def test_missing_out_and_typod_keys_are_rejected(tiny_mnist: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"out is required: add out=DIR"):
        export_images(_compose(tiny_mnist, tmp_path))
    with pytest.raises(ConfigCompositionException, match="fromat"):
        _compose(tiny_mnist, tmp_path, "out=x", "fromat=jpg")


def test_non_empty_out_folder_is_refused(tiny_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match=r"busy: folder is not empty; choose a new folder or delete"):
        export_images(_compose(tiny_mnist, tmp_path, f"out={out}"))
    assert _files(out, "*") == ["notes.txt"]


def test_cli_exports_and_reports_a_bad_format_as_one_line(tiny_mnist: Path, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "mnist_lightning.export_images", "data=idx", f"data.root={tiny_mnist}"]
    args += [f"data.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}  # it would re-raise the error
    run = subprocess.run([*args, "out=exported"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(_files(tmp_path / "exported" / "train", "*.png")) == 240
    assert len(_files(tmp_path / "exported" / "test", "*.png")) == 60
    assert "Wrote 240 train and 60 test png images" in (tmp_path / "run" / "export_images.log").read_text()
    bad = subprocess.run(
        [*args, "out=other", "format=gif"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr + bad.stdout
    assert [line for line in bad.stderr.splitlines() if line.strip()] == [
        "error: format=gif: not a supported image format; choose png (lossless) or jpg (jpeg also accepted)"
    ]
    assert not (tmp_path / "other").exists()
