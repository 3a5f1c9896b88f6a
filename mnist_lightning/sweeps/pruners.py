"""Optuna's pruners as sweeper settings: `hydra.sweeper.pruner=<name>` picks one of `Pruners`' fields.

Each field is a `_target_` node with the pruner's main settings, typed, so that a mistyped setting
fails when Hydra composes the config (`hydra.sweeper.pruners.median.n_startup_trials=1`). No optuna
import here: the sweeper's config is composed before any trial runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from omegaconf import OmegaConf

from mnist_lightning.errors import ConfigError


@dataclass
class NoPruning:
    """Every trial runs to its end (its val/acc is still reported after each epoch)."""

    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPruning:
    """Stop a trial whose best val/acc so far is below the median of finished trials at that epoch."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5  # no pruning until this many trials have finished
    n_warmup_steps: int = 0  # no trial is pruned before this epoch (counted from 0)
    interval_steps: int = 1  # epochs between two pruning checks
    n_min_trials: int = 1  # finished trials that must have reached an epoch to judge it


@dataclass
class SuccessiveHalvingPruning:
    """Asynchronous successive halving: only the top 1/reduction_factor of trials go on at each rung."""

    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"  # epochs before the first rung: an int, or "auto" (from the first trial)
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0  # trials that must reach a rung before any is promoted from it


@dataclass
class HyperbandPruning:
    """Hyperband: several successive-halving brackets, from aggressive to none."""

    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1  # epochs
    max_resource: Any = "auto"  # epochs: an int, or "auto" (the epochs of the first trial to finish)
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class Pruners:
    """hydra.sweeper.pruners.<name>: each pruner's settings; the field names are the choices."""

    none: NoPruning = field(default_factory=NoPruning)
    median: MedianPruning = field(default_factory=MedianPruning)
    successive_halving: SuccessiveHalvingPruning = field(default_factory=SuccessiveHalvingPruning)
    hyperband: HyperbandPruning = field(default_factory=HyperbandPruning)


# hydra.sweeper.pruner's type: an Enum, so that OmegaConf refuses any other name at compose time and
# lists the choices. Built from Pruners' fields: the names are written once.
PrunerName = Enum("PrunerName", {f.name: f.name for f in fields(Pruners)}, type=str)  # type: ignore[misc]


def pruner_spec(name: Any, pruners: Any) -> dict[str, Any]:
    """The chosen pruner's `_target_` node as plain data (JSON-safe: a trial's user attribute keeps it)."""
    node = getattr(pruners, PrunerName(name).value)
    return OmegaConf.to_container(OmegaConf.structured(node))  # type: ignore[return-value]


def check_prunable(name: Any, objectives: int) -> None:
    """Optuna prunes studies of one objective only: a pruner for a study of several is a ConfigError."""
    if objectives > 1 and PrunerName(name) != PrunerName.none:
        raise ConfigError(
            f"hydra.sweeper.pruner={PrunerName(name).value}: Optuna prunes only studies with one "
            f"objective, and this one has {objectives}; use hydra.sweeper.pruner=none"
        )


def build_pruner(spec: dict[str, Any] | None) -> Any:
    """The optuna pruner of a `pruner_spec`; Optuna's NopPruner when there is none."""
    from hydra.utils import instantiate

    return instantiate(spec or {"_target_": NoPruning._target_})
