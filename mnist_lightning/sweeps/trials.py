"""What the study is told of each finished job: its value, the worst value, or that it was pruned."""

from __future__ import annotations

import math

import optuna
from hydra.core.utils import JobReturn
from optuna.study import StudyDirection
from optuna.trial import TrialState

from mnist_lightning import metric_keys as M
from mnist_lightning.sweeps.results import job_status


def worst(direction: StudyDirection) -> float:
    """The worst value for a study's direction: -inf when it maximizes, +inf when it minimizes."""
    return -math.inf if direction == StudyDirection.MAXIMIZE else math.inf


def trial_value(result: JobReturn, direction: StudyDirection) -> float:
    """A trial's objective; a job that failed, diverged or ran no validation gets the worst value."""
    # Infinity, not NaN: study.tell(nan) marks the trial FAIL and TPE ignores failed trials, so it would
    # go on sampling where jobs fail. An infinite value is a COMPLETE trial that TPE ranks last (it
    # splits trials by the order of their values), and Optuna's SQL storage keeps +-inf.
    try:
        value = float(result.return_value)
    except Exception:  # the job raised: Hydra's result re-raises the exception here
        return worst(direction)
    return value if math.isfinite(value) else worst(direction)


def tell(study: optuna.Study, trial: optuna.Trial, result: JobReturn) -> None:
    """Tell `study` how `trial`'s job ended: PRUNED when its pruner stopped it, else its value."""
    # The job's metrics.json says whether it was pruned (its return value is its best val/acc either
    # way). A pruned trial's value is the last val/acc it reported: Optuna keeps it, TPE uses it.
    if job_status(result) == M.PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, trial_value(result, study.direction))
