"""The `ml.*` OmegaConf resolvers that conf/ uses, and `--help`'s list of config groups.

Importing this module registers the resolvers and stores the schemas (`register()`), as every entry
point needs before Hydra composes its config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnist_lightning.conf_dir import CONF_DIR
from mnist_lightning.run_dirs import _unique_run_dir, is_set, job_name, process_rank
from mnist_lightning.schema import store_schemas


def _pick(value: Any, if_set: Any, otherwise: Any) -> Any:
    return if_set if is_set(value) else otherwise


def _on_rank0(value: Any) -> Any:
    return value if process_rank() == 0 else None


def _rank_job_name(name: str) -> str:
    rank = process_rank()
    return name if rank == 0 else f"{name}_rank{rank}"


def group_options() -> dict[str, list[str]]:
    """Every config group of the app (not Hydra's own) with its options; `_` files are not options."""
    from hydra.core.global_hydra import GlobalHydra  # inside: needs an initialised Hydra, not imports

    loader = GlobalHydra.instance().config_loader()
    found: dict[str, list[str]] = {}

    def walk(parent: str) -> None:
        for name in sorted(loader.list_groups(parent)):
            group = f"{parent}/{name}" if parent else name
            if group != "hydra":
                found[group] = [o for o in loader.get_group_options(group) if not o.startswith("_")]
                walk(group)

    walk("")
    return found


def used_groups(config_name: str) -> set[str] | None:
    """The groups `config_name`'s defaults list chooses from (through `config` for tune); None: unknown."""
    path = CONF_DIR / f"{config_name}.yaml"
    if not path.is_file():
        return None  # a config of the user's own (--config-name): list every group
    groups: set[str] = set()
    for entry in OmegaConf.load(path).get("defaults") or []:
        if isinstance(entry, str):  # `config` (a whole primary config) or `callbacks/_core` (one file)
            groups |= used_groups(entry) or set() if "/" not in entry else {entry.split("/")[0]}
        else:  # `data: null`, `logger: tensorboard`; not `override hydra/help: ...`
            groups |= {str(key) for key in entry if not str(key).startswith("override")}
    return groups


def config_groups(config_name: str = "") -> str:
    """`--help`'s list of the groups `config_name` uses, with their options, one line each."""
    used = used_groups(config_name) if config_name else None
    return "\n".join(
        f"{group}: {', '.join(options)}"
        for group, options in group_options().items()
        if options and (used is None or group.split("/")[0] in used)
    )


def register() -> None:
    """Store the schemas in Hydra's ConfigStore and add the `ml.*` resolvers that conf/ uses."""
    store_schemas()
    # ${ml.pick:${x},a,b} is a when x is set, else b: a resumed run adds .hydra/resumed-<time>/.
    OmegaConf.register_new_resolver("ml.pick", _pick, replace=True)
    # ${ml.basename:${run_dir}}: a run's folder name, e.g. the MLflow or W&B run name.
    OmegaConf.register_new_resolver("ml.basename", lambda path: Path(str(path)).name, replace=True)
    OmegaConf.register_new_resolver("ml.job_name", job_name, replace=True)
    OmegaConf.register_new_resolver("ml.config_groups", config_groups, replace=True)
    # ${ml.unique_dir:outputs/...[,${resume}]}: run and sweep folders of their own, created when
    # resolved. Hydra resolves hydra.sweep.dir again and again (five times in a two-job multirun),
    # so the value is cached, as Hydra's `now` is, and Hydra copies that cache into each job's
    # config (joblib and submitit jobs included): every resolution returns the one folder created.
    OmegaConf.register_new_resolver("ml.unique_dir", _unique_run_dir, replace=True, use_cache=True)
    # Processes started by torchrun or srun: rank 0 alone writes .hydra/ and train.log; the others
    # log to train_rank<N>.log in the same directory.
    OmegaConf.register_new_resolver("ml.on_rank0", _on_rank0, replace=True)
    OmegaConf.register_new_resolver("ml.rank_job_name", _rank_job_name, replace=True)


register()
