"""Every run and every sweep gets a folder of its own, even when two start in the same second."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import FAST, make_tiny_mnist
from omegaconf import OmegaConf

from mnist_lightning.run_dirs import RANK_VARIABLES, unique_dir

# The quickest real training run: tiny data, one short epoch on the CPU, no report.
FAST_RUN = ["data=idx", "data.val_size=40", *FAST, "threads=1"]
MARKER = "taken.txt"  # in the folders the test makes beforehand
AHEAD = 120  # seconds of time-stamped folders made beforehand: longer than the runs take to start


def test_threads_racing_on_one_name_each_get_their_own_folder(tmp_path: Path) -> None:
    n = 16
    start = threading.Barrier(n)

    def make(_: int) -> str:
        start.wait()  # all at once
        return unique_dir(str(tmp_path / "outputs" / "12-00-00"))

    with ThreadPoolExecutor(n) as pool:
        made = list(pool.map(make, range(n)))
    assert len(set(made)) == n and all(Path(p).is_dir() for p in made)
    assert sorted(Path(p).name for p in made) == sorted(
        ["12-00-00", *(f"12-00-00-{k}" for k in range(2, n + 1))]
    )


def test_resolving_again_or_a_copy_makes_no_second_folder(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"dir": f"${{ml.unique_dir:{tmp_path / 'run'}}}", "log": "${dir}/train.log"})
    first = cfg.dir
    # Hydra composes each job's config afresh and copies the master config's resolver cache into it.
    job = OmegaConf.create(OmegaConf.to_container(cfg))
    OmegaConf.copy_cache(from_config=cfg, to_config=job)
    assert {cfg.dir, copy.deepcopy(cfg).dir, job.dir} == {first} and cfg.log == f"{first}/train.log"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_resumed_run_and_a_torchrun_rank_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "12-00-00"
    resumed = OmegaConf.create({"dir": f"${{ml.unique_dir:{base},{tmp_path / 'old'}}}"})
    assert resumed.dir == str(tmp_path / "old")
    monkeypatch.setenv(RANK_VARIABLES[0], "1")  # a rank started by torchrun: cannot know rank 0's folder
    assert OmegaConf.create({"dir": f"${{ml.unique_dir:{base}}}"}).dir == str(base)
    assert not list(tmp_path.iterdir())


def _take_the_next_seconds(parent: Path) -> list[Path]:
    """`<parent>/<date>/<time>` (conf/config.yaml's layout) for the next AHEAD seconds, each with a MARKER."""
    now = datetime.now()
    taken = []
    for second in range(-1, AHEAD):
        when = now + timedelta(seconds=second)
        folder = parent / when.strftime("%Y-%m-%d") / when.strftime("%H-%M-%S")
        folder.mkdir(parents=True)
        (folder / MARKER).write_text("made by the test before the runs started\n")
        taken.append(folder)
    return taken


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in (*RANK_VARIABLES, "WORLD_SIZE")}
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_lightning", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]


def _new_folders(parent: Path, taken: list[Path]) -> list[Path]:
    for folder in taken:  # the folders that were there before are left alone
        assert [p.name for p in folder.iterdir()] == [MARKER], folder
    return sorted(set(parent.glob("*/*")) - set(taken))


def test_two_runs_started_together_write_into_folders_of_their_own(tmp_path: Path) -> None:
    tiny = make_tiny_mnist(tmp_path / "tiny")
    taken = _take_the_next_seconds(tmp_path / "outputs" / "train")
    runs = [_start(tmp_path, *FAST_RUN, f"data.root={tiny}") for _ in range(2)]
    dry_run = _start(tmp_path, "--cfg", "job")  # prints the config: makes no folder at all
    _finish([*runs, dry_run])
    made = _new_folders(tmp_path / "outputs" / "train", taken)
    assert len(made) == 2, made
    for folder in made:
        assert (folder / "metrics.json").is_file() and (folder / "train.log").is_file()
        assert folder.name.rsplit("-", 1)[0] in {p.name for p in taken}  # the time stamp, then -2, -3, ...


def test_two_sweeps_started_together_write_into_folders_of_their_own(tmp_path: Path) -> None:
    tiny = make_tiny_mnist(tmp_path / "tiny")
    sweeps = tmp_path / "outputs" / "train" / "multirun"
    taken = _take_the_next_seconds(sweeps)
    _finish([_start(tmp_path, "-m", *FAST_RUN, f"data.root={tiny}", "seed=1,2") for _ in range(2)])
    made = _new_folders(sweeps, taken)
    assert len(made) == 2, made
    for sweep in made:
        jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
        assert [job.name[:2] for job in jobs] == ["0_", "1_"], jobs
        assert all((job / "metrics.json").is_file() for job in jobs)
