"""The `hydra/sweeper=optuna` plugin: Hydra loads sweepers only from classes defined under `hydra_plugins`."""

from hydra.core.config_store import ConfigStore

from mnist_lightning.sweeps import optuna


class OptunaSweeper(optuna.OptunaSweeper):
    """mnist_lightning.sweeps.optuna.OptunaSweeper, declared where Hydra looks for plugins."""


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=optuna.OptunaSweeperConf, provider="mnist_lightning"
)
