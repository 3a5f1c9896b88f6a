"""SIGTERM and Ctrl-C stay ours once Lightning has put in its own handlers."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import Callback

from mnist_lightning.termination import own_signals


class OwnSignals(Callback):
    """SIGTERM and Ctrl-C stay ours (see `termination`) once Lightning has put in its own handler."""

    def on_sanity_check_start(self, *args: Any) -> None:
        own_signals()

    def on_train_start(self, *args: Any) -> None:
        own_signals()

    def on_test_start(self, *args: Any) -> None:
        own_signals()

    def on_predict_start(self, *args: Any) -> None:
        own_signals()
