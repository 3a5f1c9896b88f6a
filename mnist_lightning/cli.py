"""Command-line front door: a mistyped override becomes one `error:` line instead of Hydra's report."""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_lightning.errors import exit_on_user_error
from mnist_lightning.resolvers import group_options
from mnist_lightning.termination import quick_exit


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


def hydra_app(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """`@hydra.main` for an entry point: composes `config_name` from CONF_DIR."""
    return hydra.main(version_base=HYDRA_VERSION_BASE, config_path=str(CONF_DIR), config_name=config_name)


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
    missing = re.search(r"Could not load '([\w/]+)/(\w+)'", head)  # an option inside a list: group=[a,b]
    if missing and not options:
        options = sorted(p.stem for p in (CONF_DIR / missing[1]).glob("*.yaml"))
    options = [o for o in options if not o.startswith("_")]  # shared settings, not options
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
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=HYDRA_VERSION_BASE):
            cfg = compose(config_name, overrides=args)
            shared = shared_settings_chosen(args)
    except (HydraException, OmegaConfBaseException) as err:
        fail(one_line(err))
    if shared:
        fail(shared)
    missing = [str(key) for key in cfg if OmegaConf.is_missing(cfg, key)]  # required top-level keys
    if missing:
        needed = " ".join(f"{key}=..." for key in missing)
        fail(f"{', '.join(missing)} must be given on the command line: add {needed}")
    if unwritable := unwritable_run_dir(args):
        fail(unwritable)


def fail(line: str) -> NoReturn:
    """The one-line error of a command-line mistake, and exit status 2."""
    print(f"error: {line}", file=sys.stderr)
    sys.exit(2)


def shared_settings_chosen(args: list[str]) -> str | None:
    """A group option starting with `_` (data=_base): shared settings that real options build on."""
    values = [(o.key_or_group, o.value()) for o in OverridesParser.create().parse_overrides(args)]
    shared = [(group, value) for group, value in values if isinstance(value, str) and value.startswith("_")]
    if not shared:  # walking every config group takes ~0.25 s: only when an override needs it
        return None
    groups = group_options()
    for group, value in shared:
        if group in groups:
            return (
                f"{group}={value}: files starting with _ hold settings the options share; "
                f"choose one of {', '.join(groups[group])}"
            )
    return None


def unwritable_run_dir(args: list[str]) -> str | None:
    """Where the run would write, when it cannot: hydra.run.dir given on the command line, else ./outputs."""
    given = [o for o in OverridesParser.create().parse_overrides(args) if o.key_or_group == "hydra.run.dir"]
    key, folder = ("hydra.run.dir", Path(str(given[-1].value()))) if given else ("outputs", Path("outputs"))
    try:
        folder.expanduser().mkdir(parents=True, exist_ok=True)  # Hydra would create it a moment later
        with tempfile.TemporaryFile(dir=folder.expanduser()):
            pass
    except OSError as err:
        return (
            f"{key}={folder}: cannot write there ({err.strerror or type(err).__name__}); run from a "
            "folder you can write to, or set hydra.run.dir=<a writable folder>"
        )
    return None


def given_keys(overrides: list[str] | None = None) -> list[str]:
    """The keys (or groups) the command line set, e.g. ["data", "data.mean"]; [] outside a Hydra app."""
    if overrides is None:
        if not HydraConfig.initialized():
            return []
        overrides = list(HydraConfig.get().overrides.task)
    return [o.key_or_group for o in OverridesParser.create().parse_overrides(overrides)]


# What Lightning imported before any logging is set up gives a handler and stops propagating.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


def lightning_logs_apart() -> None:
    """Lightning's own lines (GPU available, checkpoint restored) on stderr, apart from the run's log.

    Lightning does so itself only when imported before Hydra sets up logging, as the entry points once did.
    """
    if "lightning" in sys.modules:  # imported already: it has set its loggers up itself
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not logger.handlers:  # called again before Lightning was imported: one handler, not two
            logger.addHandler(logging.StreamHandler())
            logger.propagate = False


def start(config_name: str) -> None:
    """What every entry point does before Hydra runs: check the overrides, set up logs and the quick exit."""
    precheck(config_name)
    lightning_logs_apart()
    quick_exit()


def run_app(config_name: str, task: Callable[[DictConfig], Any]) -> None:
    """`python -m mnist_lightning.<tool>`: check the overrides, then run `task` as a Hydra app.

    A user error, caught before or inside `task`, exits with one line and status 2.
    """
    start(config_name)

    @hydra_app(config_name)
    def _main(cfg: DictConfig) -> None:
        exit_on_user_error(lambda: task(cfg))

    _main()
