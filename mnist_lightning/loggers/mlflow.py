"""Lightning's MLFlowLogger, safe when runs started together create or share one SQLite store."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger as LightningMLFlowLogger

SQLITE = "sqlite:///"


@contextlib.contextmanager
def store_lock(tracking_uri: str | None) -> Iterator[None]:
    """Hold `<store>.lock` while a process opens a SQLite store; other stores need none.

    MLflow creates the store's tables, then the experiment by name, on first use: two runs started in
    the same second (a joblib sweep, two terminals) would both try, and one would fail mid-migration.
    """
    if not (tracking_uri or "").startswith(SQLITE):
        yield
        return
    db = Path(str(tracking_uri)[len(SQLITE) :])  # sqlite:///outputs/x.db -> outputs/x.db (relative)
    db.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


class MLFlowLogger(LightningMLFlowLogger):
    """Lightning's MLFlowLogger (pip install 'mnist-lightning[mlflow]'); first use holds the store's lock."""

    def __init__(self, *args: Any, tracking_uri: str | None = None, **kwargs: Any) -> None:
        with store_lock(tracking_uri):  # Lightning makes MLflow's client here, which creates the tables
            super().__init__(*args, tracking_uri=tracking_uri, **kwargs)

    @property
    def experiment(self) -> Any:
        """MLflow's client, created (with the store, experiment and run) under the store's lock."""
        if self._initialized:
            return super().experiment
        with store_lock(self._tracking_uri):
            return super().experiment
