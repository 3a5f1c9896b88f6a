"""How far a fit got, in epochs: whole ones, or a fraction when it stopped inside an epoch."""

from __future__ import annotations

import lightning as L


def epochs_run(trainer: L.Trainer) -> float | int:
    """Epochs trained so far: an int when whole, else rounded to 0.01 (a trial pruned mid-epoch)."""
    per_epoch = trainer.num_training_batches
    batches = trainer.fit_loop.epoch_loop.batch_progress.total.completed  # over all epochs, resumes included
    if not isinstance(per_epoch, int) or per_epoch <= 0:  # inf (a float) when unknown
        return trainer.current_epoch  # no known epoch length (an iterable without len): whole epochs
    epochs = round(batches / per_epoch, 2)
    return int(epochs) if epochs.is_integer() else epochs
