"""Run and job folders: unique run folders, readable job names, and this process's rank.

Resolved while Hydra composes the config, before any training code runs: no torch or Lightning here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Overrides that locate things rather than change the experiment: left out of job folder names.
NOT_IN_JOB_NAME = ("data.root", "data.cache_dir", "run_dir", "resume", "ckpt_path", "hydra.")
JOB_NAME_MAX = 120
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK")  # set by torchrun / SLURM / Lightning


def is_set(value: Any) -> bool:
    """An override's value is set: neither null nor empty."""
    return value not in (None, "")


def job_name(overrides: Any) -> str:
    """A readable, filesystem-safe folder name from a job's overrides, e.g. `optimizer=sgd,seed=1`."""
    kept = [str(o) for o in overrides if not str(o).lstrip("+~").startswith(NOT_IN_JOB_NAME)]
    name = ",".join(kept).replace("/", "-").replace(" ", "") or "defaults"
    if len(name) > JOB_NAME_MAX:  # very long override lists: cut, and keep the name unique with a hash
        name = f"{name[:JOB_NAME_MAX]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def sweep_job_names(jobs: Sequence[Sequence[str]]) -> list[str]:
    """Each job's name from the overrides that vary across the sweep, in the order given: `optimizer=sgd`.

    Overrides shared by every job are left out (the sweep's multirun.yaml and report hold them); a
    sweep whose jobs share every override (a sweep of one) names each job by all of its own.
    """
    shared = set.intersection(*(set(job) for job in jobs)) if jobs else set()
    return [job_name([o for o in job if o not in shared] or job) for job in jobs]


def trial_name(sampled: dict[str, Any]) -> str:
    """A search trial's name from the values it sampled, floats to 3 digits: `optimizer.lr=0.00312,...`."""
    return job_name([f"{key}={f'{value:.3g}' if isinstance(value, float) else value}"
                     for key, value in sampled.items()])  # fmt: skip


def subdir_override(num: int, name: str) -> str:
    """The override that names job `num`'s folder `<num>_<name>` under the sweep's folder."""
    safe = "".join(c for c in name if c not in "'\\\"$")  # a quoted override value: no quote or interpolation
    return f"hydra.sweep.subdir='{num}_{safe}'"


def process_rank() -> int:
    """This process's global rank as its launcher set it (torchrun, SLURM, Lightning); 0 otherwise."""
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def unique_dir(path: str) -> str:
    """Create the folder `path`, or `path-2`, `path-3`, ... if taken, and return the one created.

    `os.mkdir` either creates the folder or fails, atomically, so two processes racing on the same
    name (two runs started in the same second) always end up with different folders.
    """
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def _unique_run_dir(path: str, existing: str | None = None) -> str:
    # A resumed run (`existing`, from `resume=`) writes into its own folder. Ranks started by
    # torchrun or srun (rank > 0) cannot know which folder rank 0 created, so they take the plain
    # time-stamped path and create nothing; with several ranks, pass one `hydra.run.dir` to all
    # of them (README, "Many processes"). Our own DDP launcher passes rank 0's folder explicitly.
    if is_set(existing):
        return str(existing)
    return path if process_rank() > 0 else unique_dir(path)


CHECKPOINTS = "checkpoints"  # the run directory's folder of best.ckpt and last.ckpt
BEST, LAST = "best", "last"


def checkpoint_path(run_dir: Path, name: str = LAST) -> Path:
    """`<run_dir>/checkpoints/<name>.ckpt`: last.ckpt holds the full state to resume from."""
    return run_dir / CHECKPOINTS / f"{name}.ckpt"
