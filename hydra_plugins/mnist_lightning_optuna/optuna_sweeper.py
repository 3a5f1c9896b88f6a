"""The `hydra/sweeper=optuna` plugin: Hydra loads sweepers only from classes defined under `hydra_plugins`."""

from hydra.core.config_store import ConfigStore

from mnist_lightning.errors import exit_on_user_error
from mnist_lightning.sweeps import optuna


class OptunaSweeper(optuna.OptunaSweeper):
    """mnist_lightning.sweeps.optuna.OptunaSweeper, declared where Hydra looks for plugins."""

    def sweep(self, arguments: list[str]) -> None:
        """The search; a mistake in its settings or search space is one `error:` line and exit status 2."""
        # Hydra prints a traceback for any exception a sweeper raises; SystemExit passes through it.
        exit_on_user_error(lambda: super(OptunaSweeper, self).sweep(arguments))


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=optuna.OptunaSweeperConf, provider="mnist_lightning"
)
