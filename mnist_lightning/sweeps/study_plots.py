"""The study's own plots (Optuna's matplotlib backend) as PNG in the sweep directory, and the study behind a sweep.

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

import yaml

from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.results import RESULTS_FILE

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
SQLITE = "sqlite:///"


def absolute_storage(url: str | None, cwd: str | Path) -> str | None:
    """The storage URL with a relative SQLite path made absolute from `cwd`, where the sweep ran."""
    if url and url.startswith(SQLITE) and not Path(url[len(SQLITE) :]).is_absolute():
        return SQLITE + str(Path(cwd) / url[len(SQLITE) :])
    return url


def finished(study: optuna.Study) -> optuna.Study:
    """An in-memory copy with only the complete trials whose values are all finite: what plots can draw."""
    import optuna

    copy = optuna.create_study(directions=study.directions)
    # A failed job's -inf or +inf would stretch every axis to infinity.
    copy.add_trials(
        t for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE and all(math.isfinite(v) for v in t.values)
    )  # fmt: skip
    return copy


def _png(axes: Any) -> bytes:
    import matplotlib.pyplot as plt

    figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def plots(study: optuna.Study, names: list[str]) -> dict[str, Callable[[], Any]]:
    """File name -> the function drawing it, for the study's objectives `names`."""
    from optuna.visualization import matplotlib as vis

    drawn: dict[str, Callable[[], Any]] = {}
    for i, name in enumerate(names):  # one history and one parallel-coordinates plot per objective
        suffix = "" if len(names) == 1 else "_" + name.replace("/", "-")
        target = None if len(names) == 1 else (lambda t, i=i: t.values[i])
        drawn[f"study_history{suffix}.png"] = lambda target=target, name=name: vis.plot_optimization_history(
            study, target=target, target_name=name
        )
        drawn[f"study_parallel_coordinate{suffix}.png"] = lambda target=target, name=name: (
            vis.plot_parallel_coordinate(study, target=target, target_name=name)
        )
    params = {p for t in study.trials for p in t.params}
    if len(study.trials) >= 2 and params:  # fANOVA fits a random forest to the finished trials
        drawn["study_param_importances.png"] = lambda: vis.plot_param_importances(
            study, target_name=names[0] if len(names) == 1 else "Objective Value"
        )
    else:
        log.info("Study plots: no parameter importances (they need 2 complete trials and a parameter)")
    if len(names) in (2, 3):
        drawn["study_pareto_front.png"] = lambda: vis.plot_pareto_front(study, target_names=names)
    return drawn


def write_plots(study: optuna.Study, sweep_dir: Path) -> list[Path]:
    """Write the study's plots as PNG into `sweep_dir`; the files written. A plot that fails is one log line."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import optuna

    from mnist_lightning.io import write_bytes_atomic

    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    written = []
    with warnings.catch_warnings():  # Optuna marks its matplotlib backend (and metric names) experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
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


def sweep_study(sweep_dir: Path) -> optuna.Study:
    """The study a sweep ran, loaded from the storage its optimization_results.yaml or multirun.yaml names."""
    import optuna

    results = sweep_dir / RESULTS_FILE
    found = yaml.safe_load(results.read_text()) if results.is_file() else {}
    if not found.get("storage"):  # an interrupted sweep: Hydra's multirun.yaml holds the sweeper's settings
        multirun = sweep_dir / "multirun.yaml"
        hydra = (yaml.safe_load(multirun.read_text()) or {}).get("hydra", {}) if multirun.is_file() else {}
        sweeper = hydra.get("sweeper", {})
        cwd = hydra.get("runtime", {}).get("cwd", ".")
        found = {"storage": absolute_storage(sweeper.get("storage"), cwd), "study_name": sweeper.get("study_name")}
    if not found.get("storage") or not found.get("study_name"):
        raise ConfigError(
            f"{sweep_dir}: no stored Optuna study (the search ran with hydra.sweeper.storage=null, in memory); "
            "study plots need a storage, e.g. hydra.sweeper.storage=sqlite:///study.db"
        )
    try:
        return optuna.load_study(study_name=found["study_name"], storage=found["storage"])
    except KeyError as err:  # Optuna's way of saying the storage has no study of that name
        raise ConfigError(f"{found['storage']}: no study {found['study_name']!r} ({err})") from None
