"""The study behind a sweep: the settings a search leaves in its folder, and its plots and results rebuilt.

Light at import (optuna inside the functions), for `python -m mnist_lightning.sweep_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from omegaconf import DictConfig, OmegaConf

from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.results import RESULTS_FILE

if TYPE_CHECKING:
    import optuna

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

    from mnist_lightning.sweeps.storage import JOURNAL_FILE, open_storage

    results = sweep_dir / RESULTS_FILE
    found = yaml.safe_load(results.read_text()) if results.is_file() else {}
    if not found.get("storage"):  # an interrupted sweep: Hydra's multirun.yaml holds the sweeper's settings
        hydra = _hydra_settings(sweep_dir)
        sweeper, cwd = hydra.get("sweeper", {}), hydra.get("runtime", {}).get("cwd", ".")
        journal = sweep_dir / JOURNAL_FILE  # the default study: no storage given, a journal file here
        stored = sweeper.get("storage") or (str(journal.resolve()) if journal.is_file() else None)
        found = {"storage": absolute_storage(stored, cwd), "study_name": sweeper.get("study_name")}
    if not found.get("storage") or not found.get("study_name"):
        raise ConfigError(
            f"{sweep_dir}: no stored Optuna study (neither its {RESULTS_FILE} nor its multirun.yaml name "
            f"one, and it holds no {JOURNAL_FILE}); is this the sweep directory of an Optuna search?"
        )
    try:
        study = optuna.load_study(study_name=found["study_name"], storage=open_storage(found["storage"]))
        return study, found["storage"]
    except KeyError as err:  # Optuna's way of saying the storage has no study of that name
        raise ConfigError(f"{found['storage']}: no study {found['study_name']!r} ({err})") from None


def rebuild(sweep_dir: Path) -> None:
    """optimization_results.yaml and the study plots again, from the search's stored study."""
    from mnist_lightning import metric_keys as M
    from mnist_lightning.sweeps.objectives import write_summary
    from mnist_lightning.sweeps.study_plots import write_plots

    study, storage = sweep_study(sweep_dir)
    objectives = study.metric_names or [M.VAL_ACC_BEST]  # the sweeper names them (since many objectives)
    write_summary(study, objectives, storage, sweep_dir)
    write_plots(study, sweep_dir)
