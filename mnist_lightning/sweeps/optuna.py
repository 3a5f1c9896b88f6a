"""A TPE search with Optuna, as a Hydra sweeper: ask a batch of trials, launch them, tell the results.

Written against current Optuna (ask/tell) because hydra-optuna-sweeper requires optuna<3.0, which
would hold Optuna back at an old line beside the current packages of the rest of the stack.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from mnist_lightning.errors import ConfigError

log = logging.getLogger(__name__)
WORST = {"maximize": -math.inf, "minimize": math.inf}


@dataclass
class OptunaSweeperConf:
    """hydra.sweeper.*: the study and its search space."""

    _target_: str = "hydra_plugins.mnist_lightning_optuna.optuna_sweeper.OptunaSweeper"
    direction: str = "maximize"  # the task returns val/acc_best
    n_trials: int = 20  # trials in total, counting those an earlier, interrupted run finished
    n_jobs: int = 1  # trials launched together (each batch goes to the launcher)
    seed: int = 0  # the TPE sampler's seed
    study_name: str = "mnist_lightning"
    storage: str | None = None  # e.g. sqlite:///study.db: lets an interrupted study continue
    # key -> "log:LOW:HIGH" | "float:LOW:HIGH" | "int:LOW:HIGH" | "choice:A,B,C"
    params: dict[str, str] = field(default_factory=dict)
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # trials to run first, e.g. a known config


def suggest(trial: optuna.Trial, key: str, spec: str) -> Any:
    """One value for `key` from its search-space spec."""
    kind, _, rest = str(spec).partition(":")
    try:
        if kind == "choice":
            return trial.suggest_categorical(key, [yaml.safe_load(v) for v in rest.split(",")])
        low, high = (yaml.safe_load(v) for v in rest.split(":"))
        if kind == "int":
            return trial.suggest_int(key, int(low), int(high))
        return trial.suggest_float(key, float(low), float(high), log=kind == "log")
    except (ValueError, TypeError) as err:
        raise ConfigError(
            f"hydra.sweeper.params.{key}={spec!r}: {err}; use log:LOW:HIGH, float:LOW:HIGH, "
            "int:LOW:HIGH or choice:A,B,C"
        ) from None


class OptunaSweeper(Sweeper):
    """Runs `n_trials` trials of a TPE study through Hydra's launcher, `n_jobs` at a time."""

    def __init__(self, **conf: Any) -> None:
        self.conf = OptunaSweeperConf(**{k: v for k, v in conf.items() if k != "_target_"})
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _value(self, result: Any) -> float:
        """A trial's objective; a failed or diverged trial is the worst possible value."""
        try:
            value = float(result.return_value)
        except Exception:  # the job raised: Hydra re-raises it here
            return WORST[self.conf.direction]
        return value if math.isfinite(value) else WORST[self.conf.direction]

    def sweep(self, arguments: list[str]) -> None:
        c = self.conf
        study = optuna.create_study(
            study_name=c.study_name,
            storage=c.storage,
            direction=c.direction,
            sampler=optuna.samplers.TPESampler(seed=c.seed),
            load_if_exists=True,
        )
        for fixed in c.enqueue:
            study.enqueue_trial(dict(fixed), skip_if_exists=True)
        done = sum(t.state.is_finished() for t in study.trials)
        log.info("Optuna study %s: %d of %d trials already done", c.study_name, done, c.n_trials)
        while done < c.n_trials:
            trials = [study.ask() for _ in range(min(c.n_jobs, c.n_trials - done))]
            batch = [
                [*arguments, *(f"{key}={suggest(t, key, spec)}" for key, spec in c.params.items())]
                for t in trials
            ]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(results)
            for trial, result in zip(trials, results, strict=True):
                study.tell(trial, self._value(result))
            done += len(trials)
        best = study.best_trial
        summary = {"best_value": best.value, "best_params": best.params, "n_trials": len(study.trials)}
        out = Path(self.config.hydra.sweep.dir) / "optimization_results.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(summary, sort_keys=False))
        log.info("Best trial: %s = %s with %s", c.direction, best.value, best.params)
