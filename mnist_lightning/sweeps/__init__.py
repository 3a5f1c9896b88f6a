"""Sweeps and experiment tracking: TensorBoard HPARAMS logging (and, later, the multirun report)."""
