"""Where a study lives, and how a training job finds its trial there.

`hydra.sweeper.storage` is any URL Optuna accepts (sqlite:///..., postgresql://...), or a file path:
an Optuna journal file. With none, the sweeper keeps the study in a journal in the sweep directory.
A journal rather than SQLite: parallel trials (joblib workers, SLURM jobs) append to it under a lock
that holds on NFS too, where SQLite's locking is unreliable, and it needs no database engine.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from hydra.core.override_parser.types import Quote, QuotedString
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage

from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.pruners import build_pruner

JOURNAL_FILE = "optuna_journal.log"  # the default study, in the sweep directory
PRUNER_ATTR = "pruner"  # a trial's user attribute: the pruner (a _target_ node) that judges it


def storage_url(given: str | None, sweep_dir: str | Path) -> str:
    """The study's storage: `given`, else an absolute path to a journal in the sweep directory."""
    return given or str((Path(sweep_dir) / JOURNAL_FILE).resolve())


def open_storage(url: str | None) -> BaseStorage | str | None:
    """What Optuna's create_study and load_study take: a URL as it is, a file path as a journal."""
    if url is None or "://" in url:
        return url
    path = Path(url).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)  # the sweep directory, before Hydra creates it
    return JournalStorage(JournalFileBackend(str(path)))


def open_trial(storage: str, study_name: str, number: int) -> optuna.Trial | None:
    """Trial `number` of study `study_name` in `storage`, judged by the pruner the sweeper gave it.

    None when there is nothing to report: the study has told it already (a finished trial's run resumed
    with resume=), or the study has several objectives (Optuna prunes single-objective studies only).
    """
    opened = optuna.storages.get_storage(open_storage(storage))
    try:
        study_id = opened.get_study_id_from_name(study_name)
        trial_id = opened.get_trial_id_from_study_id_trial_number(study_id, number)
    except KeyError:
        raise ConfigError(
            f"trial.number={number}: no such trial in study {study_name!r} of "
            f"{storage}; the sweeper sets `trial`, leave it out of a run of your own"
        ) from None
    frozen = opened.get_trial(trial_id)
    if frozen.state.is_finished():
        return None
    pruner = build_pruner(frozen.user_attrs.get(PRUNER_ATTR))
    # A random sampler: the job never samples, and TPE's setup for a trial is wasted work.
    study = optuna.load_study(
        study_name=study_name,
        storage=opened,
        sampler=optuna.samplers.RandomSampler(),
        pruner=pruner,
    )
    if len(study.directions) > 1:  # Optuna's Trial.report refuses a study of several objectives
        return None
    return optuna.trial.Trial(study, trial_id)


def trial_override(storage: str, study_name: str, number: int) -> str:
    """The override naming a job's trial: `trial={storage:'...',study_name:'...',number:3}`."""
    url, name = (QuotedString(text=text, quote=Quote.single).with_quotes() for text in (storage, study_name))
    return f"trial={{storage:{url},study_name:{name},number:{number}}}"
