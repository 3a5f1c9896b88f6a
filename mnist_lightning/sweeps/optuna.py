"""A TPE search with Optuna, as a Hydra sweeper: ask a batch of trials, launch them, tell the results.

Written against current Optuna (ask/tell) because hydra-optuna-sweeper requires optuna<3.0, which
would hold Optuna back at an old line beside the current packages of the rest of the stack.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.run_dirs import subdir_override, trial_name
from mnist_lightning.sweeps.objectives import name_metrics, study_directions, tell, write_summary
from mnist_lightning.sweeps.pruners import PrunerName, Pruners, check_prunable, pruner_spec
from mnist_lightning.sweeps.search_space import search_space
from mnist_lightning.sweeps.storage import PRUNER_ATTR, open_storage, storage_url, trial_override
from mnist_lightning.sweeps.stored_study import save_multirun
from mnist_lightning.sweeps.study_plots import write_plots

log = logging.getLogger(__name__)


@dataclass
class OptunaSweeperConf:
    """hydra.sweeper.*: the study and its search space."""

    _target_: str = "hydra_plugins.mnist_lightning_optuna.optuna_sweeper.OptunaSweeper"
    _recursive_: bool = False  # `pruners` holds _target_ nodes: settings the jobs build, not objects here
    direction: str = "maximize"  # of the one objective (a stored study keeps its direction)
    directions: list[str] = field(default_factory=list)  # one per objective, for several: [maximize,minimize]
    objectives: list[str] = field(default_factory=lambda: [M.VAL_ACC_BEST])  # keys of each job's metrics.json
    n_trials: int = 20  # trials in total, counting those an earlier, interrupted run finished
    n_jobs: int = 1  # trials launched together (each batch goes to the launcher)
    seed: int = 0  # with the number of finished trials, seeds the TPE sampler of each batch
    study_name: str = "mnist_lightning"
    # Any URL Optuna accepts (sqlite:///study.db, postgresql://...) or a journal file's path: an interrupted
    # study continues, sweeps on several machines share it. null: a journal in the sweep directory.
    storage: str | None = None
    pruner: PrunerName = PrunerName.none  # none | median | successive_halving | hyperband
    pruners: Pruners = field(default_factory=Pruners)  # their settings: pruners.median.n_startup_trials=1
    # key -> Hydra's sweep syntax (choice(a,b), tag(log, interval(1e-4, 1e-1)), ...) or our short forms
    # log:LOW:HIGH | float:LOW:HIGH | int:LOW:HIGH | choice:A,B,C; the command line's sweeps add to them
    params: dict[str, str] = field(default_factory=dict)
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # trials to run first, e.g. a known config


def make_sampler(seed: int, finished: int) -> optuna.samplers.TPESampler:
    """The TPE sampler for the batch of trials that follows `finished` finished trials."""
    # Seeded from the seed AND the number of finished trials: a sampler seeded from the seed alone
    # restarts its sequence whenever a stored study continues, and repeats the trials it already ran.
    # Seeding each batch this way makes a continued study sample what an uninterrupted one would
    # have (exactly so with n_jobs=1). The pair is hashed, not added, so that the studies of seeds 0
    # and 1 do not run the same sequence one trial apart.
    digest = hashlib.blake2b(f"{seed}:{finished}".encode(), digest_size=4).digest()
    # constant_liar: the trials of a batch (n_jobs > 1) count as bad while they run, so the ones asked
    # after them look elsewhere and trials launched together differ. Optuna 5's default; stated so
    # as not to depend on it (earlier versions defaulted to False).
    return optuna.samplers.TPESampler(seed=int.from_bytes(digest, "big"), constant_liar=True)


def open_study(conf: OptunaSweeperConf) -> optuna.Study:
    """Create the study, or load it from `conf.storage` to continue it."""
    directions = study_directions(conf.direction, conf.directions, conf.objectives)
    study = optuna.create_study(
        study_name=conf.study_name,
        storage=open_storage(conf.storage),
        directions=directions,
        load_if_exists=True,
    )
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:  # Optuna would silently go on with the stored directions
        key, given, fix = (
            ("direction", directions[0], stored[0]) if len(stored) == len(directions) == 1
            else ("directions", f"[{','.join(directions)}]", f"[{','.join(stored)}]")
        )  # fmt: skip
        raise ConfigError(
            f"hydra.sweeper.{key}={given}, but study {conf.study_name!r} in {conf.storage} "
            f"was created to {', '.join(stored)}; set hydra.sweeper.{key}={fix} or another study_name"
        )
    name_metrics(study, conf.objectives)
    return study


class OptunaSweeper(Sweeper):
    """Runs `n_trials` trials of a TPE study through Hydra's launcher, `n_jobs` at a time."""

    def __init__(self, **conf: Any) -> None:
        self.conf = OptunaSweeperConf(**{k: v for k, v in conf.items() if k != "_target_"})
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep the config and build the launcher that runs each batch of trials."""
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        """Ask, launch and tell batches of trials until the study has `n_trials` finished ones."""
        sweep_dir = Path(self.config.hydra.sweep.dir)
        c = replace(self.conf, storage=storage_url(self.conf.storage, sweep_dir))
        pruner = pruner_spec(c.pruner, c.pruners)
        study = open_study(c)
        check_prunable(c.pruner, len(study.directions))
        space, fixed_overrides = search_space(c.params, arguments)
        save_multirun(self.config)
        for fixed in c.enqueue:
            study.enqueue_trial(dict(fixed), skip_if_exists=True)
        done = sum(t.state.is_finished() for t in study.trials)
        # A continued study numbers its jobs (hydra.job.num) after the trials launched before it.
        self.job_idx = sum(t.state != optuna.trial.TrialState.WAITING for t in study.trials)
        log.info("Optuna study %s in %s: %d of %d trials already done",
                 c.study_name, c.storage, done, c.n_trials)  # fmt: skip
        while done < c.n_trials:
            study.sampler = make_sampler(c.seed, done)
            trials = [study.ask(space) for _ in range(min(c.n_jobs, c.n_trials - done))]
            sampled = [{key: t.params[key] for key in space} for t in trials]
            for trial in trials:  # the job judges itself with it, epoch by epoch (callbacks.trial_pruning)
                trial.set_user_attr(PRUNER_ATTR, pruner)
            # Each trial's folder: its number in the study (unique, even for two sweepers sharing the
            # study) and the values it sampled: `3_optimizer=adam,...`.
            batch = [
                [*fixed_overrides, *(f"{k}={v}" for k, v in s.items()),
                 subdir_override(t.number, trial_name(s)), trial_override(c.storage, c.study_name, t.number)]
                for t, s in zip(trials, sampled, strict=True)
            ]  # fmt: skip
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(results)
            for trial, result in zip(trials, results, strict=True):
                tell(study, trial, result, c.objectives)
            done += len(trials)
        write_summary(study, c.objectives, c.storage, sweep_dir)
        write_plots(study, sweep_dir)
