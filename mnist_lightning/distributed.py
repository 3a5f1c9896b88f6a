"""DDP through Lightning, safe under Hydra: the ranks Lightning starts rerun *this job*, in its directory.

Lightning starts ranks 1..N-1 by rerunning the command line. Under a Hydra multirun that command
holds `-m` and the whole sweep, so each extra rank would start a sweep of its own: stray sweep
directories, jobs that hang waiting for peers, a second job killed. Here they rerun only this
job's overrides as a single run, inside this job's directory, without writing its `.hydra/`.
Every way of getting several processes on one node (`trainer=ddp`, or just `trainer.devices=2`,
for which Lightning picks DDP itself) goes through this launcher.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from mnist_lightning.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0  # a collective that does not complete in this time raises instead of hanging
# Joining the group waits longer: the other ranks import, read their data and build their model first.
RENDEZVOUS_TIMEOUT_S = 600.0
# What the launcher puts in this process's environment for its ranks; left there, the next job of a
# multirun would believe it is a rank started from outside and wait for peers that never come.
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def job_command(rank: int) -> list[str]:
    """`python -m mnist_lightning <this job's overrides>` pinned to this job's directory, for one rank."""
    if not HydraConfig.initialized():
        raise ConfigError(
            "trainer=ddp: Lightning starts the other ranks by rerunning the command, so start DDP "
            "with `python -m mnist_lightning trainer=ddp ...` or under torchrun/srun"
        )
    hydra = HydraConfig.get()
    run_dir = hydra.runtime.output_dir.replace("\\", "\\\\").replace('"', '\\"')
    return [
        sys.executable, "-m", "mnist_lightning", *hydra.overrides.task,
        f'hydra.run.dir="{run_dir}"', "hydra.output_subdir=null", f"hydra.job.name=train_rank{rank}",
    ]  # fmt: skip


def _die_with_parent() -> None:
    """In a child, before it runs: the kernel SIGKILLs it when its parent dies, however the parent died."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class HydraJobLauncher(_SubprocessScriptLauncher):
    """Lightning's launcher for ranks on this node, each started as `job_command(rank)`.

    Without Lightning's observer thread, which SIGKILLs this whole process (a multirun with all its
    later jobs) as soon as one rank exits with an error: `release` and `explain` deal with the ranks.
    """

    def launch(self, function: Callable, *args: Any, trainer: L.Trainer | None = None, **kwargs: Any) -> Any:
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
        return function(*args, **kwargs)

    def _call_children_scripts(self) -> None:
        self._check_can_spawn_children()
        env = self.cluster_environment
        os.environ["MASTER_ADDR"] = env.main_address
        os.environ["MASTER_PORT"] = str(env.main_port)
        os.environ["NODE_RANK"] = str(env.node_rank())
        os.environ["LOCAL_RANK"] = str(env.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        self.procs, self.ranks = [], []
        for local_rank in range(1, self.num_processes):
            rank = env.node_rank() * self.num_processes + local_rank
            self.procs.append(
                subprocess.Popen(
                    job_command(rank),
                    env={**os.environ, "LOCAL_RANK": str(local_rank)},
                    cwd=get_original_cwd(),
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                )
            )
            self.ranks.append(rank)


class DDP(DDPStrategy):
    """Lightning's DDPStrategy (gloo on CPU, nccl on GPU by default), the Hydra-aware launcher, a timeout.

    `timeout_s` bounds every collective once the group has formed; forming it may take longer.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> None:
        if not timeout_s > 0:
            raise ConfigError(f"trainer.strategy.timeout_s={timeout_s}: must be a positive number of seconds")
        super().__init__(timeout=timedelta(seconds=max(timeout_s, RENDEZVOUS_TIMEOUT_S)), **kwargs)
        self.timeout_s = timeout_s

    def setup_distributed(self) -> None:
        super().setup_distributed()
        set_timeout = getattr(torch.distributed, "set_timeout", None)  # torch >= 2.8; older: one timeout
        if set_timeout is not None:
            set_timeout(timedelta(seconds=self.timeout_s))

    def _configure_launcher(self) -> None:
        if self._start_method == "popen":
            assert self.cluster_environment is not None
            self._launcher = HydraJobLauncher(self.cluster_environment, self.num_processes, self.num_nodes)
        else:
            super()._configure_launcher()


def needs_our_launcher(trainer: L.Trainer) -> bool:
    """Whether Lightning chose DDP by itself (e.g. trainer.devices=2) with its own command-line launcher."""
    launcher = getattr(trainer.strategy, "launcher", None)
    return isinstance(launcher, _SubprocessScriptLauncher) and not isinstance(launcher, HydraJobLauncher)


def share_cores(trainer: L.Trainer) -> None:
    """Each of this node's ranks takes its share of the cores, unless OMP_NUM_THREADS says otherwise.

    Lightning does this by setting OMP_NUM_THREADS, which would then stay set for the jobs that
    follow in a multirun; `threads=N` overrides it.
    """
    if trainer.num_devices > 1 and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // trainer.num_devices))
