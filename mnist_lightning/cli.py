"""Command-line front door: a mistyped override becomes one `error:` line instead of Hydra's report."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_lightning.errors import exit_on_user_error


def _conf_dir() -> Path:
    """The configs: mnist_lightning/conf in a wheel (pyproject.toml puts them there), else the checkout's."""
    package = Path(__file__).resolve().parent
    installed = package / "conf"
    return installed if installed.is_dir() else package.parent / "conf"


# Every entry point composes from here (hydra.main, precheck, run_app), as an absolute path: Hydra resolves
# a relative config_path against the calling module, which `python -m mnist_lightning` and the installed
# `mnist-lightning` script name differently.
CONF_DIR = _conf_dir()


def one_line(err: BaseException) -> str:
    """Hydra's multi-line composition message, folded into one line that keeps the options it lists."""
    raw = str(err).splitlines()
    lines = [line.strip() for line in raw if line.strip()]
    head = lines[0] if lines else type(err).__name__
    options: list[str] = []
    starts = [i for i, line in enumerate(raw) if line.startswith("Available options")]
    if starts:  # the option names follow, indented
        for line in raw[starts[0] + 1 :]:
            if not line[:1].isspace():
                break
            options.append(line.strip())
    cause = err.__cause__
    reason = str(cause).splitlines()[0].strip() if cause is not None and str(cause).strip() else ""
    text = f"{head} ({reason})" if reason and reason not in head else head
    if options:
        text += f"; available: {', '.join(options)}"
    return f"{text}; `--help` lists every group and option"


def precheck(config_name: str, argv: list[str] | None = None) -> None:
    """Compose `config_name` with the command line's overrides once; exit 2 with one line if that fails.

    Flags (-m, --cfg, --help, ...) go straight to Hydra, as does everything with HYDRA_FULL_ERROR=1.
    """
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(arg.startswith("-") for arg in args):
        return
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name, overrides=args)
    except (HydraException, OmegaConfBaseException) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
    missing = [str(key) for key in cfg if OmegaConf.is_missing(cfg, key)]  # required top-level keys
    if missing:
        needed = " ".join(f"{key}=..." for key in missing)
        print(f"error: {', '.join(missing)} must be given on the command line: add {needed}", file=sys.stderr)
        sys.exit(2)


def given_keys(overrides: list[str] | None = None) -> list[str]:
    """The keys (or groups) the command line set, e.g. ["data", "data.mean"]; [] outside a Hydra app."""
    if overrides is None:
        if not HydraConfig.initialized():
            return []
        overrides = list(HydraConfig.get().overrides.task)
    return [o.key_or_group for o in OverridesParser.create().parse_overrides(overrides)]


def run_app(config_name: str, task: Callable[[DictConfig], Any]) -> None:
    """`python -m mnist_lightning.<tool>`: check the overrides, then run `task` as a Hydra app.

    A user error, caught before or inside `task`, exits with one line and status 2.
    """
    precheck(config_name)

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)
    def _main(cfg: DictConfig) -> None:
        exit_on_user_error(lambda: task(cfg))

    _main()
