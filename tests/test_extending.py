"""docs/extending.md works as written: each section's files are written out and its commands run for real.

Each numbered section (`## N. ...`) of the guide is one test. Its named code blocks (```python
my_models/tiny_cnn.py, ```yaml my_conf/model/tiny_cnn.yaml) are written into a folder of its own,
which is the working folder and PYTHONPATH of its commands (```bash blocks). A section that builds on
another (DEPENDS) gets that one's files too. Each command is adapted to run in seconds:

- `python` is this interpreter; MNIST_LIGHTNING_WARM=0 (each section has its own PYTHONPATH, so no
  warm process could be shared, and each would import torch beside the next command for nothing);
- the settings of RUN replace the command's own value of the same key, or are appended: one epoch of
  a few batches (debug=limit), the CPU, no report figures, the run (or sweep) folder under tmp_path,
  and two trials for a sweep;
- a command that chooses no data source gets `data=idx data.root=<tiny IDX files>`
  (conftest.make_tiny_mnist); one that chooses its own (section 2's `data=npz`) keeps it, and its
  `data.root` folder gets a tiny `digits.npz` with the arrays the guide names (N_NPZ_TEST test
  images, not the IDX files' 60, so the count proves the user's source was read).

Then each test checks that the run used the user's class: the composed config's `_target_`, the
files the user's callback and logger write, the sweep's report.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_tiny_mnist

from mnist_lightning import metric_keys as M
from mnist_lightning.data.idx import load_idx_dir

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w+)[ \t]*(\S*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)  # lang, file, body
HEADING = re.compile(r"^## (\d+)\. (.+)$", re.M)
DEPENDS = {5: (1,)}  # section 5's search-path plugin finds section 1's model config
N_NPZ_TEST = 50
SWEEP_TRIALS = 2
RUN = {  # see the module docstring
    "data.val_size": "40",
    "debug": "limit",
    "report": "false",
    "trainer.accelerator": "cpu",
    "trainer.enable_progress_bar": "false",
}


@dataclass
class Section:
    """One numbered section of the guide: its files (path -> text) and its bash commands."""

    title: str
    files: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


def read_guide() -> dict[int, Section]:
    """The guide's numbered sections, each with its named files and its commands, in order."""
    text = GUIDE.read_text()
    heads = list(HEADING.finditer(text))
    found: dict[int, Section] = {}
    for head, after in zip(heads, [*heads[1:], None], strict=True):
        section = found[int(head[1])] = Section(head[2])
        for lang, path, body in FENCE.findall(text[head.end() : after.start() if after else len(text)]):
            if lang == "bash":
                section.commands += [line for line in body.splitlines() if line.strip()]
            elif path:
                section.files[path] = body
    return found


SECTIONS = read_guide()


def write_npz(root: Path, tiny: Path) -> None:
    """`root/digits.npz` with section 2's arrays: the tiny IDX digits, N_NPZ_TEST of them for test."""
    train, test = load_idx_dir(tiny)
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "digits.npz", x_train=train.images.numpy(), y_train=train.labels.numpy(),
             x_test=test.images[:N_NPZ_TEST].numpy(), y_test=test.labels[:N_NPZ_TEST].numpy())  # fmt: skip


def adapt(command: str, folder: Path, out: Path, tiny: Path) -> list[str]:
    """The argv that runs `command` from the guide on tiny data, writing into `out` (module docstring)."""
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "mnist_lightning"], command
    args = argv[3:]
    given = {a.split("=", 1)[0].lstrip("+~"): i for i, a in enumerate(args) if "=" in a and a[0] != "-"}
    multirun = "-m" in args or "--multirun" in args
    settings = {**RUN, ("hydra.sweep.dir" if multirun else "hydra.run.dir"): str(out)}
    if multirun:
        settings["hydra.sweeper.n_trials"] = str(SWEEP_TRIALS)
    if "data" in given:  # the user's own source: its data.root gets the tiny data in its format
        write_npz(folder / args[given["data.root"]].split("=", 1)[1], tiny)
    else:
        settings.update({"data": "idx", "data.root": str(tiny)})
    for key, value in settings.items():
        if key in given:
            args[given[key]] = f"{key}={value}"
        else:
            args.append(f"{key}={value}")
    return [sys.executable, "-m", "mnist_lightning", *args]


def run_section(number: int, tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    """Write the section's files (and those it builds on) and run its commands, each in `tmp_path/run<i>`."""
    folder, tiny = tmp_path / "my_project", make_tiny_mnist(tmp_path / "tiny")
    for n in (*DEPENDS.get(number, ()), number):
        for path, body in SECTIONS[n].files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(body)
    env = {**os.environ, "PYTHONPATH": str(folder), "MNIST_LIGHTNING_WARM": "0"}
    done = []
    for i, command in enumerate(SECTIONS[number].commands):
        argv = adapt(command, folder, tmp_path / f"run{i}", tiny)
        proc = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-1500:]}\n{proc.stderr[-2500:]}"
        done.append(proc)
    return done


def composed(run: Path) -> dict:
    """The config the run was composed with (.hydra/config.yaml)."""
    return yaml.safe_load((run / ".hydra" / "config.yaml").read_text())


def target(section: int, path: str, *keys: str) -> str:
    """The `_target_` of a config file of the guide, at `keys`."""
    node = yaml.safe_load(SECTIONS[section].files[path])
    for key in keys:
        node = node[key]
    return node["_target_"]


def ran_ok(run: Path) -> dict:
    """The run's metrics.json, after checking that it trained and tested."""
    metrics = json.loads((run / M.METRICS_FILE).read_text())
    assert metrics[M.STATUS] == M.OK and metrics[M.TEST_ACC] is not None, metrics
    return metrics


def test_the_guide_has_its_sections_each_with_files_and_commands() -> None:
    assert sorted(SECTIONS) == [1, 2, 3, 4, 5]
    for number, section in SECTIONS.items():
        assert section.files and section.commands, (number, section.title)
        for path, body in section.files.items():
            if path.endswith(".py"):
                compile(body, path, "exec")
            else:
                assert isinstance(yaml.safe_load(body), dict), path


def check_model(tmp_path: Path, outputs: list[subprocess.CompletedProcess[str]]) -> None:
    run = tmp_path / "run0"
    ran_ok(run)
    net = target(1, "my_conf/model/tiny_cnn.yaml", "net")
    assert composed(run)["model"]["net"]["_target_"] == net == "my_models.tiny_cnn.TinyCNN"


def check_data(tmp_path: Path, outputs: list[subprocess.CompletedProcess[str]]) -> None:
    run = tmp_path / "run0"
    assert ran_ok(run)[M.TEST_SAMPLES] == N_NPZ_TEST  # the npz's test split, not the IDX files'
    assert (
        composed(run)["data"]["_target_"] == target(2, "my_conf/data/npz.yaml") == "my_data.npz.NpzDataModule"
    )


def check_callback_and_logger(tmp_path: Path, outputs: list[subprocess.CompletedProcess[str]]) -> None:
    one_off, kept = tmp_path / "run0", tmp_path / "run1"
    for run in (one_off, kept):  # debug=limit: one epoch, validated once
        ran_ok(run)
        assert re.fullmatch(r"1,\d\.\d{4}\n", (run / "val_acc.csv").read_text())
    lines = [json.loads(line) for line in (kept / "metrics.jsonl").read_text().splitlines()]
    assert any("hparams" in line for line in lines) and any(M.TEST_ACC in line for line in lines)
    assert (kept / "csv_steps" / "metrics.csv").is_file()


def check_sweep(tmp_path: Path, outputs: list[subprocess.CompletedProcess[str]]) -> None:
    sweep = tmp_path / "run0"
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [row[M.STATUS] for row in rows] == [M.OK] * SWEEP_TRIALS
    space = yaml.safe_load(SECTIONS[4].files["my_conf/hparams_search/lr_dropout.yaml"])
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["n_trials"] == SWEEP_TRIALS and set(best["best_params"]) == set(
        space["hydra"]["sweeper"]["params"]
    )


def check_plugin(tmp_path: Path, outputs: list[subprocess.CompletedProcess[str]]) -> None:
    # `--help` lists the groups (`model: bncnn, convnet, ...`) first, then the composed config
    groups = next(line for line in outputs[0].stdout.splitlines() if line.startswith("model: "))
    assert "tiny_cnn" in groups.replace(",", " ").split(), groups


CHECKS: dict[int, Callable[[Path, list[subprocess.CompletedProcess[str]]], None]] = {
    1: check_model,
    2: check_data,
    3: check_callback_and_logger,
    4: check_sweep,
    5: check_plugin,
}


@pytest.mark.parametrize("number", sorted(CHECKS), ids=lambda n: f"section{n}")
def test_a_section_runs_as_written(number: int, tmp_path: Path) -> None:
    CHECKS[number](tmp_path, run_section(number, tmp_path))
