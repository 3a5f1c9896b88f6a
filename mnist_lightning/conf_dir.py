"""Where the configs are, and the Hydra version base every entry point composes with."""

from __future__ import annotations

from pathlib import Path


def _conf_dir() -> Path:
    """The configs: mnist_lightning/conf in a wheel (pyproject.toml puts them there), else the checkout's."""
    package = Path(__file__).resolve().parent
    installed = package / "conf"
    return installed if installed.is_dir() else package.parent / "conf"


# Every entry point composes from here (hydra.main, precheck, run_app), as an absolute path: Hydra resolves
# a relative config_path against the calling module, which `python -m mnist_lightning` and the installed
# `mnist-lightning` script name differently.
CONF_DIR = _conf_dir()
HYDRA_VERSION_BASE = "1.3"
