"""Sharing one machine between a sweep's parallel jobs: torch threads and GPUs per job."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from mnist_lightning.checks import GPU_NAMES

GPU_ACCELERATORS = (*GPU_NAMES, "auto")  # accelerators that train on a GPU when there is one


def parallel_jobs(launcher: Mapping[str, Any]) -> int:
    """How many jobs the launcher runs at once on this machine.

    joblib: `n_jobs` (-1 = one per core). `submitit_local` starts every job at once, so plan
    for one per core. SLURM jobs (their config has a `partition`) get their own allocation, and
    the basic launcher runs one job at a time.
    """
    cores = os.cpu_count() or 1
    if launcher.get("n_jobs") is not None:
        n_jobs = int(launcher["n_jobs"])
        return max(1, cores + 1 + n_jobs if n_jobs < 0 else n_jobs)
    if "submitit_folder" in launcher and "partition" not in launcher:
        return cores
    return 1


def share_machine(cfg: DictConfig, launcher: Mapping[str, Any], job_num: int) -> None:
    """Give this job its share of the machine, unless the config already says.

    Threads: the launcher's `cpus_per_task` (submitit), else cores // parallel jobs, so N jobs
    never oversubscribe the cores. GPUs: with several, parallel job k trains on GPU k mod count.
    """
    import torch  # heavy: imported when used, so the entry points that import this module start fast

    parallel = parallel_jobs(launcher)
    if cfg.threads is None:
        threads = launcher.get("cpus_per_task") or (
            (os.cpu_count() or 1) // parallel if parallel > 1 else None
        )
        cfg.threads = max(1, int(threads)) if threads else None
    gpus = torch.cuda.device_count()
    accelerator = str(cfg.trainer.accelerator).lower()
    if parallel > 1 and gpus > 1 and accelerator in GPU_ACCELERATORS and cfg.trainer.devices == 1:
        cfg.trainer.devices = [job_num % gpus]
