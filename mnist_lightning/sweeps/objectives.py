"""What a search optimises: val/acc_best, or several keys of metrics.json; and the results file."""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.utils import JobReturn
from optuna.study import StudyDirection
from optuna.trial import TrialState

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.jobs import job_status
from mnist_lightning.sweeps.results import RESULTS_FILE
from mnist_lightning.sweeps.stored_study import absolute_storage

log = logging.getLogger(__name__)
DIRECTIONS = ("maximize", "minimize")
JOB_DIR = "job_dir"  # the trial's user attribute: its job's folder, where its metrics.json is


def study_directions(direction: str, directions: Sequence[str], objectives: Sequence[str]) -> list[str]:
    """One direction per objective: `directions` when given, else `direction`; checked."""
    key, chosen = ("directions", list(directions)) if directions else ("direction", [direction])
    if bad := [d for d in chosen if d not in DIRECTIONS]:
        raise ConfigError(
            f"hydra.sweeper.{key}: {bad[0]!r} is not a direction; use {' or '.join(DIRECTIONS)}"
        )
    if len(chosen) != len(objectives):
        raise ConfigError(
            f"hydra.sweeper.{key}={chosen} but hydra.sweeper.objectives={list(objectives)}: give one "
            f"direction per objective, e.g. hydra.sweeper.objectives=[{M.VAL_ACC_BEST},{M.FIT_SECONDS}] "
            "hydra.sweeper.directions=[maximize,minimize]"
        )
    if unknown := [k for k in objectives if k not in M.RUN_METRICS]:
        raise ConfigError(
            f"hydra.sweeper.objectives: {unknown[0]!r} is not a metric of metrics.json; use some of "
            f"{', '.join(M.RUN_METRICS)}"
        )
    if any(k in M.TESTED for k in objectives):  # allowed, but the test set then chooses the model
        log.warning("Optimising %s: the test set then chooses the hyperparameters", objectives)
    return chosen


def worst(direction: StudyDirection) -> float:
    """The worst value for a study's direction: -inf when it maximizes, +inf when it minimizes."""
    return -math.inf if direction == StudyDirection.MAXIMIZE else math.inf


def job_dir(result: JobReturn) -> Path | None:
    """The folder the job ran in (Hydra's runtime.output_dir), None when Hydra did not say."""
    hydra_cfg = result.hydra_cfg
    return Path(hydra_cfg.hydra.runtime.output_dir) if hydra_cfg is not None else None


def metric_values(
    result: JobReturn, objectives: Sequence[str], directions: Sequence[StudyDirection]
) -> list[float]:
    """Each objective from the job's metrics.json; the worst of each when the job failed or diverged."""
    folder = job_dir(result)
    metrics_file = folder / M.METRICS_FILE if folder is not None else None
    if metrics_file is None or not metrics_file.is_file():  # a failed job writes failed.json instead
        return [worst(d) for d in directions]
    metrics = json.loads(metrics_file.read_text())
    if metrics.get(M.STATUS, M.OK) != M.OK:  # diverged: its numbers say nothing of its settings
        return [worst(d) for d in directions]
    values = [metrics.get(key) for key in objectives]
    # A missing or non-finite value (no validation ran): worst, so TPE and the front rank it last.
    return [
        float(v) if isinstance(v, int | float) and math.isfinite(v) else worst(d)
        for v, d in zip(values, directions, strict=True)
    ]


def name_metrics(study: optuna.Study, objectives: Sequence[str]) -> None:
    """Store the objectives' names in the study, for its plots and optuna-dashboard."""
    with warnings.catch_warnings():  # set_metric_names is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(objectives))


def front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials on the Pareto front (the best trial for one objective), by trial number."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return []
    return sorted(
        study.best_trials if len(study.directions) > 1 else [study.best_trial], key=lambda t: t.number
    )


def summary(study: optuna.Study, objectives: Sequence[str], storage: str | None) -> dict[str, Any]:
    """optimization_results.yaml: the best trial (one objective) or the Pareto front's trials (several)."""
    best = front(study)
    found: dict[str, Any] = {"n_trials": len(study.trials), "study_name": study.study_name,
                             "storage": absolute_storage(storage, Path.cwd())}  # fmt: skip
    if len(objectives) == 1:
        return {"best_value": best[0].value if best else None, "best_params": best[0].params if best else {},
                **found}  # fmt: skip
    found["objectives"] = {k: d.name.lower() for k, d in zip(objectives, study.directions, strict=True)}
    found["pareto_front"] = [
        {"number": t.number, "values": dict(zip(objectives, t.values, strict=True)), "params": t.params,
         "job": Path(t.user_attrs[JOB_DIR]).name if JOB_DIR in t.user_attrs else None}
        for t in best
    ]  # fmt: skip
    return found


def write_summary(
    study: optuna.Study, objectives: Sequence[str], storage: str | None, sweep_dir: Path
) -> None:
    """Write optimization_results.yaml into the sweep directory and log the best trials."""
    results = summary(study, objectives, storage)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / RESULTS_FILE).write_text(yaml.safe_dump(results, sort_keys=False))
    if len(objectives) == 1:
        log.info("Best trial: %s = %s with %s", objectives[0], results["best_value"], results["best_params"])
    else:
        jobs = ", ".join(str(t["job"]) for t in results["pareto_front"])
        log.info(
            "Pareto front: %d trials (%s), see %s",
            len(results["pareto_front"]),
            jobs,
            sweep_dir / RESULTS_FILE,
        )


def tell(study: optuna.Study, trial: optuna.Trial, result: JobReturn, objectives: Sequence[str]) -> None:
    """Note the job's folder on its trial (for the report and the front), then tell the study how it ended."""
    if (folder := job_dir(result)) is not None:
        trial.set_user_attr(JOB_DIR, str(folder))
    # A pruned job's metrics.json says so; the trial keeps the last val/acc it reported (TPE uses it).
    if job_status(result) == M.PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, metric_values(result, objectives, study.directions))
