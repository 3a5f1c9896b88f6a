"""The `hydra/sweeper=named` plugin: Hydra loads sweepers only from classes defined under `hydra_plugins`."""

from hydra.core.config_store import ConfigStore

from mnist_lightning.sweeps import named


class NamedSweeper(named.NamedSweeper):
    """mnist_lightning.sweeps.named.NamedSweeper, declared where Hydra looks for plugins."""


ConfigStore.instance().store(
    group="hydra/sweeper", name="named", node=named.NamedSweeperConf, provider="mnist_lightning"
)
