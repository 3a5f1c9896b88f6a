"""Hydra discovers sweepers only under the `hydra_plugins` namespace: this registers our basic one."""
