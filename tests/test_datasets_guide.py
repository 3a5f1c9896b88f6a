"""docs/datasets.md works as written: its own-IDX-dataset example runs on tiny files made to its YAML.

Section 2's named YAML block is written under a project folder; tiny IDX files with the names and
classes it declares are generated (test_datasets.make_tiny) in the folder its command names as
`data.root`; its bash commands then run from the project folder as written, the training one on
the CPU for a few batches (conftest.FAST) with its run folder under tmp_path.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import FAST
from test_datasets import make_tiny

from mnist_lightning.data.datasets import Dataset
from mnist_lightning.data.torchvision import load_torchvision
from mnist_lightning.errors import ConfigError
from mnist_lightning.precheck import precheck

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"
FENCE = re.compile(r"^```(\w+)[ \t]*(\S*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)  # lang, file, body
SECTION = re.search(r"^## 2\. .*?(?=^## )", GUIDE.read_text(), re.M | re.S)[0]  # type: ignore[index]
BLOCKS = FENCE.findall(SECTION)
[(YAML_PATH, YAML_TEXT)] = [(path, body) for lang, path, body in BLOCKS if lang == "yaml"]
COMMANDS = [line for lang, _, body in BLOCKS if lang == "bash" for line in body.splitlines() if line.strip()]


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Dataset, Path]:
    """The guide's YAML written out, tiny IDX files where its command reads them; the dataset, the root."""
    folder = tmp_path / "my_project"
    (folder / YAML_PATH).parent.mkdir(parents=True)
    (folder / YAML_PATH).write_text(YAML_TEXT)
    node = yaml.safe_load(YAML_TEXT)
    node.pop("defaults")
    [train] = [shlex.split(c) for c in COMMANDS if c.startswith("python -m mnist_lightning")]
    root = folder / next(arg.split("=", 1)[1] for arg in train if arg.startswith("data.root="))
    dataset = Dataset.from_config(node)
    make_tiny(root, dataset, per_class=(12, 3))
    return folder, dataset, root


def test_the_guides_dataset_trains_as_written(project: tuple[Path, Dataset, Path], tmp_path: Path) -> None:
    folder, dataset, _ = project
    outputs = []
    for command in COMMANDS:
        argv = [sys.executable, *shlex.split(command)[1:]]  # `python`: this interpreter
        if argv[1:3] == ["-m", "mnist_lightning"]:
            argv += [*FAST, "data.val_size=8", "test=false", f"hydra.run.dir={tmp_path / 'run'}"]
        proc = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "MNIST_LIGHTNING_WARM": "0"})  # fmt: skip
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-1500:]}\n{proc.stderr[-2500:]}"
        outputs.append(proc.stdout)
    assert re.fullmatch(r"mean: 0\.\d{4}  std: 0\.\d{4}", outputs[0].strip()), outputs[0]
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    assert (
        ckpt["data_facts"]["class_names"] == list(dataset.class_names) == ["plus", "minus", "times", "divide"]
    )
    assert ckpt["data_facts"]["preprocess"] == dataset.preprocess


def test_the_guides_schema_line_catches_a_misspelt_key(
    project: tuple[Path, Dataset, Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _, _ = project
    (folder / YAML_PATH).write_text(YAML_TEXT.replace("\nstd:", "\nsdt:"))
    monkeypatch.chdir(folder)
    [train] = [shlex.split(c)[3:] for c in COMMANDS if c.startswith("python -m mnist_lightning")]
    with pytest.raises(SystemExit):
        precheck("config", train)
    assert "Key 'sdt' not in 'DatasetConfig'" in capsys.readouterr().err


def test_a_dataset_without_a_torchvision_class_says_to_use_idx(
    project: tuple[Path, Dataset, Path], tmp_path: Path
) -> None:
    _, dataset, root = project
    assert dataset.torchvision is None  # the guide's example names none
    with pytest.raises(ConfigError, match=r"^data=torchvision: dataset symbols names no torchvision class"):
        load_torchvision(root, tmp_path / "cache", False, dataset)
