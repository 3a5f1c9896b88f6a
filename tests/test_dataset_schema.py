"""The dataset schema: a misspelt key or a wrong type fails while composing; stored configs follow it too."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CONF_DIR, group_options
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf

from mnist_lightning.building import build
from mnist_lightning.data.datasets import Dataset, builtin
from mnist_lightning.errors import ConfigError
from mnist_lightning.precheck import precheck
from mnist_lightning.schema import DatasetConfig

MNIST_YAML = (CONF_DIR / "dataset" / "mnist.yaml").read_text()


def own_dataset(tmp_path: Path, name: str, text: str) -> str:
    """A user's own conf/dataset/<name>.yaml in a folder of theirs; the override that finds it."""
    (tmp_path / "mine" / "dataset").mkdir(parents=True, exist_ok=True)
    (tmp_path / "mine" / "dataset" / f"{name}.yaml").write_text(text)
    return f"hydra.searchpath=[file://{tmp_path / 'mine'}]"


@pytest.mark.parametrize("name", group_options("dataset"))
def test_every_dataset_lists_the_schema(name: str, compose: Callable[..., DictConfig]) -> None:
    assert OmegaConf.get_type(compose(f"dataset={name}").data.dataset) is DatasetConfig


def test_misspelt_keys_fail_while_composing(compose: Callable[..., DictConfig], tmp_path: Path) -> None:
    with pytest.raises(ConfigCompositionException, match="label_offset=one"):
        compose("data.dataset.label_offset=one")  # an int
    typo = own_dataset(tmp_path, "typo", MNIST_YAML.replace("\nstd:", "\nsdt:"))
    with pytest.raises(ConfigCompositionException, match="Key 'sdt' not in 'DatasetConfig'"):
        compose(typo, "dataset=typo")
    files = own_dataset(tmp_path, "files", MNIST_YAML.replace("train_images:", "train_imags:"))
    with pytest.raises(ConfigCompositionException, match="Key 'train_imags' not in 'IdxFiles'"):
        compose(files, "dataset=files")


def test_the_command_line_says_which_key_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # precheck makes ./outputs
    typo = own_dataset(tmp_path, "typo", MNIST_YAML.replace("\nstd:", "\nsdt:"))
    lacking = own_dataset(tmp_path, "lacking", MNIST_YAML.replace("\nstd:", "\n# std:"))
    for args, message in (
        ([typo, "dataset=typo"],
         "'dataset/typo': Key 'sdt' not in 'DatasetConfig' (full_key: data.dataset.sdt)"),
        ([lacking, "dataset=lacking"], "data.dataset.std must be given"),
        (["data.dataset.label_offset=one"], "data.dataset.label_offset=one (Value 'one' of type 'str'"),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            precheck("config", args)
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(lines) == 1 and message in lines[0], lines


def test_overrides_and_a_users_dataset_still_work(compose: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = compose("data=idx", "data.dataset.mean=0.2", "data.dataset.std=[0.3,0.3,0.3]")
    assert (cfg.data.mean, list(cfg.data.std)) == (0.2, [0.3, 0.3, 0.3])
    assert Dataset.from_config(cfg.data.dataset).std == (0.3, 0.3, 0.3)
    mine = own_dataset(tmp_path, "mine", MNIST_YAML.replace("name: mnist", "name: mine"))
    assert build("data", compose(mine, "data=idx", "dataset=mine").data).dataset.name == "mine"


def test_stored_configs_are_read_by_the_same_rules() -> None:
    mnist = builtin("mnist")
    stored = dataclasses.asdict(mnist)  # what a checkpoint keeps: plain data
    assert Dataset.from_config(stored) == Dataset.from_config(OmegaConf.create(stored)) == mnist
    assert Dataset.from_config(None) is mnist  # configs from before the dataset group: MNIST
    older = {key: value for key, value in stored.items() if key != "preprocess"}
    assert Dataset.from_config(older).preprocess == "digit"  # before predict asked: digit datasets only
    for bad, message in (
        ({**stored, "meen": 0.5}, "data.dataset.meen: no such key; the keys are name, class_names"),
        ({**stored, "files": {**stored["files"], "test": "x"}},
         "files.test: no such key; the keys are train"),
        ({k: v for k, v in stored.items() if k != "std"}, "data.dataset.std: missing"),
        ({**stored, "files": {"train_images": "x"}}, "data.dataset.files.train_labels: missing"),
        ({**stored, "label_offset": "one"}, "data.dataset.label_offset: Value 'one'"),
        ({**stored, "mean": "dark"}, "data.dataset.mean=dark: must be a number"),
        ({**stored, "preprocess": "resise"}, "preprocess=resise: no such preparation; choose digit or"),
    ):  # fmt: skip
        with pytest.raises(ConfigError) as err:
            Dataset.from_config(bad)
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
