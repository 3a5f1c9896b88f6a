"""The study's own plots (Optuna's matplotlib backend) as PNG in the sweep directory; the study of a sweep.

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
from omegaconf import DictConfig, OmegaConf

from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.results import RESULTS_FILE

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
SQLITE = "sqlite:///"
MULTIRUN_FILE = "multirun.yaml"  # the sweep's composed config, as Hydra's basic sweeper writes it


def save_multirun(config: DictConfig) -> None:
    """Write the sweep's config to <sweep dir>/multirun.yaml: its storage, should the search be cut short."""
    sweep_dir = Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / MULTIRUN_FILE)


def absolute_storage(url: str | None, cwd: str | Path) -> str | None:
    """The storage URL with a relative SQLite path made absolute from `cwd`, where the sweep ran."""
    if url and url.startswith(SQLITE) and not Path(url[len(SQLITE) :]).is_absolute():
        return SQLITE + str(Path(cwd) / url[len(SQLITE) :])
    return url


def finished(study: optuna.Study) -> optuna.Study:
    """An in-memory copy with only the complete trials whose values are all finite: what plots can draw."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created in memory" each time
    copy = optuna.create_study(directions=study.directions)
    optuna.logging.set_verbosity(verbosity)
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


def _hydra_settings(sweep_dir: Path) -> dict[str, Any]:
    """The `hydra` settings the sweep ran with, from Hydra's multirun.yaml; {} when it has none."""
    multirun = sweep_dir / MULTIRUN_FILE
    return (yaml.safe_load(multirun.read_text()) or {}).get("hydra", {}) if multirun.is_file() else {}


def is_search(sweep_dir: Path) -> bool:
    """Whether the sweep was an Optuna search (by its results file, or the sweeper it ran with)."""
    target = str(_hydra_settings(sweep_dir).get("sweeper", {}).get("_target_", ""))
    return (sweep_dir / RESULTS_FILE).is_file() or "optuna" in target


def sweep_study(sweep_dir: Path) -> tuple[optuna.Study, str]:
    """The study a sweep ran and its storage, as its optimization_results.yaml or multirun.yaml say."""
    import optuna

    results = sweep_dir / RESULTS_FILE
    found = yaml.safe_load(results.read_text()) if results.is_file() else {}
    if not found.get("storage"):  # an interrupted sweep: Hydra's multirun.yaml holds the sweeper's settings
        hydra = _hydra_settings(sweep_dir)
        sweeper, cwd = hydra.get("sweeper", {}), hydra.get("runtime", {}).get("cwd", ".")
        found = {
            "storage": absolute_storage(sweeper.get("storage"), cwd),
            "study_name": sweeper.get("study_name"),
        }
    if not found.get("storage") or not found.get("study_name"):
        raise ConfigError(
            f"{sweep_dir}: no stored Optuna study (the search ran with hydra.sweeper.storage=null, in "
            "memory); study plots need a storage, e.g. hydra.sweeper.storage=sqlite:///study.db"
        )
    try:
        return optuna.load_study(study_name=found["study_name"], storage=found["storage"]), found["storage"]
    except KeyError as err:  # Optuna's way of saying the storage has no study of that name
        raise ConfigError(f"{found['storage']}: no study {found['study_name']!r} ({err})") from None


def rebuild(sweep_dir: Path) -> None:
    """optimization_results.yaml and the study plots again, from the search's stored study."""
    from mnist_lightning import metric_keys as M
    from mnist_lightning.sweeps.objectives import write_summary

    study, storage = sweep_study(sweep_dir)
    objectives = study.metric_names or [M.VAL_ACC_BEST]  # the sweeper names them (since many objectives)
    write_summary(study, objectives, storage, sweep_dir)
    write_plots(study, sweep_dir)
