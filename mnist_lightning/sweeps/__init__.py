"""Multirun sweeps: the sweep report (results.py), our Optuna sweeper, and how jobs share the machine."""
