"""Hydra discovers sweepers only under the `hydra_plugins` namespace: this registers ours."""
