"""The command line checked before Hydra runs: a mistake becomes one `error:` line, and exit status 2."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_lightning.conf_dir import CONF_DIR, HYDRA_VERSION_BASE
from mnist_lightning.resolvers import group_options


def one_line(err: BaseException) -> str:
    """Hydra's multi-line composition message, folded into one line that keeps the options it lists."""
    raw = str(err).splitlines()
    lines = [line.strip() for line in raw if line.strip()]
    head = lines[0] if lines else type(err).__name__
    if head.endswith("raised while composing config:") and len(lines) > 1:  # a file's key: say which
        where = next((line for line in lines if line.startswith("full_key: ")), "")
        head = f"{head.split(':')[0]}: {lines[1]}" + (f" ({where})" if where else "")
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
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return
    if unparsable := sweep_syntax(args):
        fail(unparsable)
    if any(arg.startswith("-") for arg in args):
        return
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=HYDRA_VERSION_BASE):
            cfg = compose(config_name, overrides=args)
            shared = shared_settings_chosen(args)
    except (HydraException, OmegaConfBaseException) as err:
        fail(one_line(err))
    if shared:
        fail(shared)
    missing = missing_keys(cfg)  # required keys: ckpt_path=???, or a key a dataset's own file left out
    if missing:
        needed = " ".join(f"{key}=..." for key in missing)
        in_file = " (or set it in its config file)" if any("." in key for key in missing) else ""
        fail(f"{', '.join(missing)} must be given on the command line: add {needed}{in_file}")
    if unwritable := unwritable_run_dir(args):
        fail(unwritable)


# Hydra's flags that take the next word as their value: that word is not an override.
VALUE_FLAGS = ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "-p", "--package",
               "--experimental-rerun")  # fmt: skip
GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/extended/"


def sweep_syntax(args: list[str]) -> str | None:
    """With -m, an override Hydra cannot parse (Hydra's own message spans three lines): one line naming it."""
    if not {"-m", "--multirun"} & set(args):  # without -m, composing the config finds these
        return None
    parser = OverridesParser.create()
    for before, arg in zip(["", *args], args, strict=False):
        if arg.startswith("-") or before in VALUE_FLAGS:
            continue
        try:
            parser.parse_override(arg)
        except HydraException as err:  # parse_override raises it bare; parse_overrides wraps it
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            reason = [line for line in lines if not line.startswith(("See https", "Error parsing"))] or lines
            return (
                f"{arg}: {reason[0]}; write sweeps as Hydra does, e.g. "
                f"'optimizer.lr=tag(log, interval(1e-4, 1e-1))' ({GRAMMAR})"
            )
    return None


def missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """The keys under `node` still `???`, as full dotted keys; interpolations are not resolved."""
    found: list[str] = []
    for key in node:
        if OmegaConf.is_missing(node, key):
            found.append(f"{prefix}{key}")
        elif not OmegaConf.is_interpolation(node, key) and isinstance(node[key], DictConfig):
            found += missing_keys(node[key], f"{prefix}{key}.")
    return found


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
