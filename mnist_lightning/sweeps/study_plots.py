"""The study's own plots (Optuna's matplotlib backend) as PNG in the sweep directory.

Light at import: optuna and matplotlib are imported inside the functions, for `python -m
mnist_lightning.sweep_report`.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)


def finished(study: optuna.Study) -> optuna.Study:
    """An in-memory copy the plots can draw: a trial without finite values counts as failed there."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created in memory" each time
    copy = optuna.create_study(directions=study.directions)
    optuna.logging.set_verbosity(verbosity)
    # Every trial is copied, in order, so that the plots' trial numbers are the study's own.
    copy.add_trials(_drawable(t) for t in study.trials)
    return copy


def _drawable(trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """`trial` as the plots may take it: a failed job's -inf or +inf (or a trial cut short) as failed."""
    import optuna
    from optuna.trial import TrialState

    complete = trial.state == TrialState.COMPLETE
    if not (complete or trial.state == TrialState.PRUNED) or not all(map(math.isfinite, trial.values or ())):
        return optuna.trial.create_trial(state=TrialState.FAIL)  # would stretch every axis to infinity
    # An enqueued trial may hold a value outside its distribution (an lr of 1e-9 to make it fail), which
    # a copy refuses: such a parameter is left out of the plots.
    dists = {k: d for k, d in trial.distributions.items() if d._contains(d.to_internal_repr(trial.params[k]))}
    return optuna.trial.create_trial(
        state=trial.state, values=trial.values if complete else None, distributions=dists,
        params={k: trial.params[k] for k in dists}, intermediate_values=trial.intermediate_values,
    )  # fmt: skip


def _png(axes: Any) -> bytes:
    import matplotlib.pyplot as plt

    figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def plots(study: optuna.Study, names: list[str]) -> dict[str, Callable[[], Any]]:
    """File name -> the function drawing it, for the study's objectives `names`."""
    from optuna.study import StudyDirection
    from optuna.visualization import matplotlib as vis

    drawn: dict[str, Callable[[], Any]] = {}
    can_rank = len(study.trials) >= 2 and any(t.params for t in study.trials)
    if not can_rank:
        log.info("Study plots: no parameter importances (they need 2 complete trials with parameters)")
    for i, name in enumerate(names):  # one plot of each kind per objective
        suffix = "" if len(names) == 1 else "_" + name.replace("/", "-")
        target = None if len(names) == 1 else (lambda t, i=i: t.values[i])
        drawn[f"study_history{suffix}.png"] = lambda target=target, name=name: vis.plot_optimization_history(
            study, target=target, target_name=name
        )
        drawn[f"study_parallel_coordinate{suffix}.png"] = lambda target=target, name=name: (
            vis.plot_parallel_coordinate(study, target=target, target_name=name)
        )
        # Optuna 5's default evaluator, PED-ANOVA (numpy only), ranks a `target` as lower-is-better:
        # a maximised objective is handed over negated.
        sign = -1.0 if study.directions[i] == StudyDirection.MAXIMIZE else 1.0
        ranked = None if len(names) == 1 else (lambda t, i=i, sign=sign: sign * t.values[i])
        if can_rank:
            drawn[f"study_param_importances{suffix}.png"] = lambda ranked=ranked, name=name: (
                vis.plot_param_importances(study, target=ranked, target_name=name)
            )
    if len(names) in (2, 3):
        drawn["study_pareto_front.png"] = lambda: vis.plot_pareto_front(study, target_names=names)
    return drawn


def write_plots(study: optuna.Study, sweep_dir: Path) -> list[Path]:
    """Write the study's plots as PNG into `sweep_dir`; the files written. A failed plot is one log line."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import optuna

    from mnist_lightning.io import write_bytes_atomic

    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    written = []
    with warnings.catch_warnings():  # Optuna marks its matplotlib backend (and metric names) experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*importances of params to achieve low")  # see plots()
        shown = finished(study)
        shown.set_metric_names(names)
        for file, draw in plots(shown, names).items():
            try:
                png = _png(draw())
            except (ImportError, ValueError, RuntimeError) as err:  # a plot is a bonus: the search stands
                log.warning("Study plots: no %s (%s)", file, str(err).splitlines()[0] if str(err) else err)
                continue
            write_bytes_atomic(sweep_dir / file, png)
            written.append(sweep_dir / file)
    log.info("Study plots: %s in %s", ", ".join(p.name for p in written) or "none", sweep_dir)
    return written
