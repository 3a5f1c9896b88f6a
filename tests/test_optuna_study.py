"""An Optuna search: its space on the command line, two objectives, the Pareto front, the study's plots."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import FAST, make_tiny_mnist

from mnist_lightning import metric_keys as M

OBJECTIVES = [M.VAL_ACC_BEST, M.FIT_SECONDS]
PLOTS = [
    *(f"study_{kind}_{key.replace('/', '-')}.png" for key in OBJECTIVES
      for kind in ("history", "parallel_coordinate", "param_importances")),
    "study_pareto_front.png",
]  # fmt: skip


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-trial, two-objective search of hparams_search=optuna with three keys swept on the command line."""
    tmp = tmp_path_factory.mktemp("search")
    tiny = make_tiny_mnist(tmp / "tiny")
    argv = ["-m", "hparams_search=optuna", "data=idx", f"data.root={tiny}", "data.val_size=40",
            f"data.cache_dir={tmp}/c", *FAST, "threads=1", f"hydra.sweep.dir={tmp / 'sweep'}",
            "hydra.sweeper.storage=sqlite:///study.db", "hydra.sweeper.n_trials=3",
            f"hydra.sweeper.objectives=[{','.join(OBJECTIVES)}]",
            "hydra.sweeper.directions=[maximize,minimize]",
            "optimizer=choice(sgd,adam)", "optimizer.lr=tag(log, interval(1e-3, 1e-1))",
            "data.batch_size=range(16, 48, step=16)", "scheduler=none"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "mnist_lightning", *argv], cwd=tmp,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


def study(tmp: Path) -> optuna.Study:
    return optuna.load_study(study_name="mnist_lightning", storage=f"sqlite:///{tmp / 'study.db'}")


def test_the_command_lines_search_space_is_sampled_within_its_ranges(search: Path) -> None:
    trials = study(search).trials
    assert len(trials) == 3
    for trial in trials:
        p = trial.params
        assert set(p) == {
            "optimizer",
            "optimizer.lr",
            "data.batch_size",
            "optimizer.weight_decay",
        }  # the file's
        assert p["optimizer"] in ("sgd", "adam") and 1e-3 <= p["optimizer.lr"] <= 1e-1
        assert p["data.batch_size"] in (16, 32, 48) and 1e-6 <= p["optimizer.weight_decay"] <= 1e-2
        job = Path(trial.user_attrs["job_dir"])
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert "scheduler=none" in overrides and f"data.batch_size={p['data.batch_size']}" in overrides
        assert not any("choice(" in o or "interval(" in o for o in overrides)  # no sweep reaches a job


def test_the_pareto_front_written_is_optunas_and_the_report_marks_it(search: Path) -> None:
    s = study(search)
    assert [d.name.lower() for d in s.directions] == ["maximize", "minimize"] and s.metric_names == OBJECTIVES
    results = yaml.safe_load((search / "sweep" / "optimization_results.yaml").read_text())
    front = sorted(s.best_trials, key=lambda t: t.number)
    assert [t["number"] for t in results["pareto_front"]] == [t.number for t in front]
    assert [list(t["values"].values()) for t in results["pareto_front"]] == [t.values for t in front]
    assert all(math.isfinite(v) for t in front for v in t.values)
    rows = list(csv.DictReader((search / "sweep" / "report.csv").open()))
    marked = {r["job"] for r in rows if r["pareto"] == "yes"}
    assert (
        marked
        == {Path(t.user_attrs["job_dir"]).name for t in front}
        == {t["job"] for t in results["pareto_front"]}
    )


def test_the_study_plots_are_written_and_rebuilt_from_the_storage(search: Path) -> None:
    sweep = search / "sweep"
    assert all((sweep / name).stat().st_size > 1000 for name in PLOTS), sorted(
        p.name for p in sweep.glob("*.png")
    )
    for name in [*PLOTS, "optimization_results.yaml", "report.csv"]:
        (sweep / name).unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning.sweep_report", str(sweep)],
        cwd=search / "tiny",
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip  (another folder: a relative storage)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all((sweep / name).stat().st_size > 1000 for name in PLOTS)
    assert "yes" in (sweep / "report.csv").read_text()  # the front marked again, from the rebuilt results


def test_plotted_trials_keep_the_study_numbers() -> None:
    from mnist_lightning.sweeps.study_plots import finished

    study = optuna.create_study(direction="maximize")
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    for value, state in ((0.9, "COMPLETE"), (-math.inf, "COMPLETE"), (None, "PRUNED"), (0.95, "COMPLETE")):
        trial = optuna.trial.create_trial(
            state=optuna.trial.TrialState[state], value=value, params={"lr": 0.01}, distributions={"lr": lr}
        )
        study.add_trial(trial)
    study.enqueue_trial({"lr": 1e-9})  # enqueued outside its distribution, as tests force a bad trial
    study.tell(study.ask({"lr": lr}), 0.5)
    shown = finished(study)  # a failed job's -inf in the middle: later trials keep their own numbers
    drawn = {t.number: t.value for t in shown.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert drawn == {0: 0.9, 3: 0.95, 4: 0.5}
