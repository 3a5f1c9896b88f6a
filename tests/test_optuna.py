"""The Optuna sweeper: worst values for failed trials, a stored study that continues without repeats."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import FAST
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.study import StudyDirection

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps import optuna as sweeper
from mnist_lightning.sweeps.objectives import metric_values
from mnist_lightning.sweeps.search_space import search_space

# Linear, not log: Optuna refuses a fixed (enqueued) lr of -1 for a log-scale parameter.
SPACE = {"optimizer": "choice:sgd,adam", "optimizer.lr": "float:1e-3:1e-1"}
DISTRIBUTIONS = search_space(SPACE, [])[0]


def ask(study: optuna.Study) -> optuna.Trial:
    """A trial of `study` with the SPACE parameters suggested, as the sweeper asks one."""
    return study.ask(DISTRIBUTIONS)


def job(folder: Path, metrics: dict | None) -> JobReturn:
    """A job's result as Hydra's launcher returns it, its folder holding `metrics` (None: failed.json)."""
    folder.mkdir(parents=True)
    if metrics is None:
        (folder / "failed.json").write_text('{"status": "failed"}')
    else:
        (folder / M.METRICS_FILE).write_text(json.dumps(metrics))
    hydra_cfg = OmegaConf.create({"hydra": {"runtime": {"output_dir": str(folder)}}})
    return JobReturn(status=JobStatus.COMPLETED, _return_value=0.0, hydra_cfg=hydra_cfg)


def test_a_failed_or_nan_trial_gets_the_worst_value_for_the_study_direction(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    failed = job(tmp_path / "failed", None)
    diverged = job(tmp_path / "diverged", {M.STATUS: M.DIVERGED, M.VAL_ACC_BEST: 0.5})
    no_val = job(
        tmp_path / "no_val", {M.STATUS: M.OK, M.VAL_ACC_BEST: None, M.FIT_SECONDS: 2.0}
    )  # strict JSON: NaN as null
    objective = [M.VAL_ACC_BEST]
    two, both = [M.VAL_ACC_BEST, M.FIT_SECONDS], [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert metric_values(failed, two, both) == [-math.inf, math.inf]  # each objective's own worst
    assert metric_values(no_val, two, both) == [-math.inf, 2.0]
    for direction, worst in (("minimize", math.inf), ("maximize", -math.inf)):
        conf = sweeper.OptunaSweeperConf(direction=direction, study_name=direction, storage=storage)
        study = sweeper.open_study(conf)
        assert [metric_values(j, objective, study.directions) for j in (failed, diverged, no_val)] == [
            [worst]
        ] * 3
        for n in range(12):  # past TPE's 10 random startup trials: TPE proper sees the infinities
            study.sampler = sweeper.make_sampler(conf.seed, n)
            trial = ask(study)
            lr = trial.params["optimizer.lr"]
            good = job(tmp_path / f"{direction}{n}", {M.STATUS: M.OK, M.VAL_ACC_BEST: lr})
            study.tell(trial, metric_values((failed, diverged, good)[n % 3], objective, study.directions))
        stored = optuna.load_study(study_name=direction, storage=storage).trials
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in stored)  # NaN would be FAIL
        assert [t.value for t in stored[:2]] == [worst, worst]  # SQLite keeps the infinities
        assert math.isfinite(study.best_value) and ask(study).params["optimizer.lr"] > 0
    with pytest.raises(ConfigError, match="created to maximize"):  # Optuna would silently maximize
        sweeper.open_study(
            sweeper.OptunaSweeperConf(direction="minimize", study_name="maximize", storage=storage)
        )


def test_a_continued_study_samples_as_if_it_had_never_stopped() -> None:
    def run(stops: list[int], n_jobs: int) -> list[dict]:
        storage = optuna.storages.InMemoryStorage()
        for n_trials in stops:  # each stop: the study is reopened, as a new multirun does
            study = optuna.create_study(storage=storage, study_name="s", load_if_exists=True)
            while (done := len(study.trials)) < n_trials:
                study.sampler = sweeper.make_sampler(0, done)
                batch = [ask(study) for _ in range(min(n_jobs, n_trials - done))]
                for trial in batch:
                    study.tell(trial, trial.params["optimizer.lr"])
        return [t.params for t in study.trials]

    straight = run([6], n_jobs=1)
    assert run([3, 6], n_jobs=1) == straight  # one trial at a time: the very same trials
    continued = run([3, 6], n_jobs=2)  # batches of 2, 1, then 2, 1: different trials, none repeated
    assert len({p["optimizer.lr"] for p in continued}) == 6
    assert sweeper.make_sampler(0, 0)._constant_liar  # no public getter; n_jobs > 1 relies on it


def search(tmp_path: Path, tiny_mnist: Path, sweep: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m mnist_lightning -m hparams_search=small ...` on tiny data, the study in ./study.db."""
    data = ["data=idx", f"data.root={tiny_mnist}", "data.val_size=40", f"data.cache_dir={tmp_path}/c"]
    argv = ["-m", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "hparams_search=small",
            "hydra.sweeper.storage=sqlite:///study.db", *data, *FAST, "threads=1",
            f"hydra.sweep.dir={tmp_path / sweep}", *args]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "mnist_lightning", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def write_space(tmp_path: Path, enqueue: dict) -> None:
    """conf/hparams_search/small.yaml under tmp_path: SPACE, with `enqueue` as the first trial."""
    (tmp_path / "conf" / "hparams_search").mkdir(parents=True)
    hydra = {"sweeper": {"params": SPACE, "enqueue": [enqueue]}}
    (tmp_path / "conf" / "hparams_search" / "small.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
        + yaml.safe_dump({"hydra": hydra})
    )


def test_an_interrupted_search_continues_from_sqlite_without_repeating_a_trial(
    tiny_mnist: Path, tmp_path: Path
) -> None:
    write_space(tmp_path, {"optimizer": "sgd", "optimizer.lr": -1})  # fails: a ConfigError during fit
    first = search(tmp_path, tiny_mnist, "first", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2")
    assert first.returncode == 1, first.stderr[-2000:]  # a failed job (the basic launcher)
    rows = list(csv.DictReader((tmp_path / "first" / "report.csv").open()))
    assert [r[M.STATUS] for r in rows] == [M.OK, M.OK, M.FAILED]

    second = search(tmp_path, tiny_mnist, "second", "hydra.sweeper.n_trials=6")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "3 of 6 trials already done" in second.stdout + second.stderr
    continued = sorted(p.name for p in (tmp_path / "second").iterdir() if (p / ".hydra").is_dir())
    assert [name.split("_")[0] for name in continued] == ["3", "4", "5"], continued  # before: 0, 1, 2
    trials = optuna.load_study(
        study_name="mnist_lightning", storage=f"sqlite:///{tmp_path / 'study.db'}"
    ).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6
    assert trials[0].params["optimizer.lr"] == -1 and trials[0].value == -math.inf  # the worst
    lrs = [t.params["optimizer.lr"] for t in trials]
    assert len(set(lrs)) == 6, lrs  # before: trials 3-5 re-ran the parameters of trials 1-2


def test_a_diverged_trial_is_the_worst_value_and_not_a_failure(tiny_mnist: Path, tmp_path: Path) -> None:
    write_space(tmp_path, {"optimizer": "sgd", "optimizer.lr": 1.0e12})  # sends the loss to NaN
    proc = search(tmp_path, tiny_mnist, "sweep", "hydra.sweeper.n_trials=2")
    assert proc.returncode == 0, proc.stderr[-2000:]  # a diverged job is a result: its lr is bad
    assert "Job diverged" in proc.stdout + proc.stderr
    rows = list(csv.DictReader((tmp_path / "sweep" / "report.csv").open()))
    assert [r[M.STATUS] for r in rows] == [M.OK, M.DIVERGED]
    trials = sorted(p.name for p in (tmp_path / "sweep").iterdir() if (p / ".hydra").is_dir())
    assert trials[0] == "0_optimizer=sgd,optimizer.lr=1e+12"  # each trial named by the values it sampled
    assert re.fullmatch(r"1_optimizer=(sgd|adam),optimizer\.lr=0\.\d{1,5}", trials[1]), trials
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert results["n_trials"] == 2 and results["best_value"] > 0.0  # it went on past the NaN trial
    assert results["best_params"]["optimizer.lr"] < 1.0
    trials = optuna.load_study(
        study_name="mnist_lightning", storage=f"sqlite:///{tmp_path / 'study.db'}"
    ).trials
    assert trials[0].value == -math.inf
