"""Optuna pruning inside trials: each job reports val/acc through the study's storage and may be stopped."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import FAST
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.trial import TrialState

from mnist_lightning import metric_keys as M
from mnist_lightning.conf_dir import CONF_DIR
from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.pruners import PrunerName, Pruners, build_pruner, check_prunable, pruner_spec
from mnist_lightning.sweeps.storage import JOURNAL_FILE, PRUNER_ATTR, open_storage, trial_override

SPACE = {"optimizer": "choice:sgd,adam", "optimizer.lr": "float:1e-3:1e-1"}
GOOD = {"optimizer": "adam", "optimizer.lr": 0.01}  # learns the tiny digits within an epoch
STUCK = {"optimizer": "sgd", "optimizer.lr": 1.0e-9}  # cannot learn: val/acc stays at chance
# Enqueued trials must differ: Optuna skips one that repeats an earlier trial's parameters.
GOOD2, STUCK2 = {**GOOD, "optimizer.lr": 0.02}, {**STUCK, "optimizer.lr": 2.0e-9}
# Prune from the second trial on, at any epoch: no warm-up, one finished trial to compare with.
MEDIAN = ["hydra.sweeper.pruner=median", "hydra.sweeper.pruners.median.n_startup_trials=1"]


def search(tmp_path: Path, tiny_mnist: Path, enqueue: list[dict], *args: str) -> subprocess.CompletedProcess:
    """A search over SPACE on tiny data, 3 epochs per trial, `enqueue` first; the sweep in tmp_path/sweep."""
    (tmp_path / "conf" / "hparams_search").mkdir(parents=True)
    hydra = {"sweeper": {"params": SPACE, "enqueue": enqueue, "n_trials": len(enqueue)}}
    (tmp_path / "conf" / "hparams_search" / "small.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
        + yaml.safe_dump({"hydra": hydra})
    )
    data = ["data=idx", f"data.root={tiny_mnist}", "data.val_size=40", f"data.cache_dir={tmp_path}/c"]
    argv = ["-m", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "hparams_search=small", *data,
            *FAST, "trainer.max_epochs=3", "threads=1", f"hydra.sweep.dir={tmp_path / 'sweep'}", *MEDIAN,
            *args]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "mnist_lightning", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def check_pruned(job: Path) -> None:
    """The job stopped after its first epoch, kept its checkpoints and says so in metrics.json."""
    metrics = json.loads((job / M.METRICS_FILE).read_text())
    assert metrics[M.STATUS] == M.PRUNED and metrics[M.EPOCHS] == 1, metrics
    assert metrics[M.TEST_ACC] is None  # not tested: a pruned trial's weights are not worth it
    assert (job / "checkpoints" / "last.ckpt").is_file() and (job / "checkpoints" / "best.ckpt").is_file()


def test_a_trial_that_cannot_learn_is_pruned_recorded_pruned_and_reported(
    tiny_mnist: Path, tmp_path: Path
) -> None:
    proc = search(tmp_path, tiny_mnist, [GOOD, STUCK])
    assert proc.returncode == 0, proc.stderr[-2000:]  # a pruned trial is a result, not a failure
    sweep = tmp_path / "sweep"
    # No storage given: the trials shared a journal in the sweep directory, read here with Optuna's API.
    study = optuna.load_study(study_name="mnist_lightning", storage=open_storage(str(sweep / JOURNAL_FILE)))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    pruned = study.trials[1]
    assert list(pruned.intermediate_values) == [0]  # reported after epoch 0, then stopped
    assert pruned.value == pruned.intermediate_values[0] < study.trials[0].value  # not the worst value
    assert pruned.user_attrs["pruner"]["_target_"] == "optuna.pruners.MedianPruner"
    assert list(study.trials[0].intermediate_values) == [0, 1, 2]
    check_pruned(sweep / "1_optimizer=sgd,optimizer.lr=1e-09")
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [(r[M.STATUS], r[M.EPOCHS]) for r in rows] == [(M.OK, "3"), (M.PRUNED, "1")]
    assert not any("trial=" in r["overrides"] for r in rows)  # where it reports, not what it tried
    assert "Status: 1 ok, 1 pruned" in (sweep / "report.md").read_text()


def test_pruning_works_in_joblib_workers_with_a_study_given_by_url(tiny_mnist: Path, tmp_path: Path) -> None:
    parallel = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"]
    storage = f"sqlite:///{tmp_path / 'study.db'}"  # any URL Optuna accepts: postgresql://... alike
    enqueue = [GOOD, GOOD2, STUCK, STUCK2]
    proc = search(tmp_path, tiny_mnist, enqueue, *parallel, f"hydra.sweeper.storage={storage}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    study = optuna.load_study(study_name="mnist_lightning", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 2
    for job in sorted((tmp_path / "sweep").glob("[23]_*")):  # the second batch, run side by side
        check_pruned(job)
    assert not (tmp_path / "sweep" / JOURNAL_FILE).exists()


def test_each_pruner_is_a_typed_choice_with_overridable_settings() -> None:
    for name in PrunerName:
        spec = pruner_spec(name.value, Pruners())
        assert type(build_pruner(spec)).__name__ == spec["_target_"].rsplit(".", 1)[1]
    assert isinstance(build_pruner(None), optuna.pruners.NopPruner)
    check_prunable("median", 1)
    check_prunable("none", 2)  # several objectives: no pruning, and no pruner asked for
    with pytest.raises(ConfigError, match="pruner=median: Optuna prunes only studies with one objective"):
        check_prunable("median", 2)

    def sweeper(*overrides: str) -> dict:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", ["hparams_search=optuna", *overrides], return_hydra_config=True)
        return OmegaConf.to_container(cfg.hydra.sweeper)  # type: ignore[return-value]

    assert sweeper()["pruner"] == PrunerName.none
    chosen = sweeper("hydra.sweeper.pruner=hyperband", "hydra.sweeper.pruners.hyperband.reduction_factor=2")
    spec = pruner_spec(chosen["pruner"], OmegaConf.create(chosen["pruners"]))
    assert spec["reduction_factor"] == 2 and isinstance(build_pruner(spec), optuna.pruners.HyperbandPruner)
    for typo in ("hydra.sweeper.pruner=medain", "hydra.sweeper.pruners.median.n_warmup=1"):
        with pytest.raises(Exception, match=r"medain|n_warmup"):  # at composition, before any trial
            sweeper(typo)


def test_the_trial_override_reads_back_whatever_the_storage_url_holds() -> None:
    url = "sqlite:////tmp/a b/it's,{x}.db"
    (parsed,) = OverridesParser.create().parse_overrides([trial_override(url, "my study", 7)])
    assert parsed.value() == {"storage": url, "study_name": "my study", "number": 7}


def judged_trial(tmp_path: Path) -> tuple[str, str]:
    """A journal study with one finished trial that learned, and a new trial judged by the median
    pruner against it: (storage, the `trial=` override that makes a run report to the new trial)."""
    storage = str(tmp_path / JOURNAL_FILE)
    study = optuna.create_study(study_name="s", storage=open_storage(storage), direction="maximize")
    learned = {0: 0.9, 1: 0.95, 2: 0.97, 3: 0.98}  # its val/acc after each of its checks
    study.add_trial(optuna.trial.create_trial(value=0.98, intermediate_values=learned))
    trial = study.ask()
    median = {**pruner_spec("median", Pruners()), "n_startup_trials": 1}
    trial.set_user_attr(PRUNER_ATTR, median)  # as the sweeper does: the pruner that judges the trial
    return storage, f"trial={{storage:'{storage}',study_name:s,number:{trial.number}}}"


def reported_steps(storage: str) -> list[int]:
    """The steps the judged trial reported, read back through Optuna."""
    return list(
        optuna.load_study(study_name="s", storage=open_storage(storage)).trials[1].intermediate_values
    )


STUCK_RUN = ("optimizer=sgd", "optimizer.lr=1e-9", "threads=1")


def test_a_trial_checked_twice_an_epoch_is_pruned_after_half_of_one(compose, tmp_path: Path) -> None:
    from mnist_lightning.train import train

    storage, where = judged_trial(tmp_path)
    cfg = compose(*STUCK_RUN, "trainer.max_epochs=2", "trainer.val_check_interval=0.5", where)
    results = train(cfg)
    # Judged at its first check (step 0), half-way through epoch 1, and stopped there: 2 of 4 batches.
    assert results[M.STATUS] == M.PRUNED and results[M.EPOCHS] == 0.5, results
    assert reported_steps(storage) == [0]
    assert json.loads((Path(cfg.run_dir) / M.METRICS_FILE).read_text())[M.EPOCHS] == 0.5


def test_a_trial_is_not_pruned_at_its_last_check(compose, tmp_path: Path) -> None:
    from mnist_lightning.train import train

    storage, where = judged_trial(tmp_path)
    # Its one check ends the fit: stopping there saves nothing, so the trial finishes and is tested.
    results = train(compose(*STUCK_RUN, "trainer.max_epochs=1", where))
    assert results[M.STATUS] == M.OK and results[M.TEST_ACC] is not None, results
    assert reported_steps(storage) == [0]
